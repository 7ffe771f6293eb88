"""A run's figures as record tables (:mod:`benchmarks.records`): the training time per step,
the propensity scorers side by side, the segmentation methods compared, the segments.

The benchmarks that train a run (``bench_pipeline``, ``bench_log``, ``bench_tables``) add
these to their records, so the docs state what the command that made the run gives.
"""
from __future__ import annotations

from benchmarks.records import Record
from core.activation import playbook
from core.runs import store

METHOD_NAMES = {"umap+hdbscan": "UMAP + HDBSCAN", "umap+kmeans": "UMAP + KMeans", "kmeans": "KMeans (k by silhouette)",
                "gmm": "Gaussian mixture (k by BIC)"}
STEPS = [("generate", "generate"), ("load_validate", "read and validate"), ("split_guard", "split and leakage guard"),
         ("judge_candidates", "judge the candidate features"), ("segmentation", "segmentation"),
         ("propensity", "propensity fit"), ("segmentation_and_propensity", "segmentation and propensity side by side"),
         ("evaluate", "evaluation"), ("explain", "explanation (SHAP)"), ("score", "scoring the training table"),
         ("save", "saving")]


def _num(v, fmt: str) -> str | None:
    return None if v is None else format(v, fmt)


def _with_ci(v, ci) -> str | None:
    return None if v is None else f"{v:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else f"{v:.3f}"


def step_rows(run: store.Run) -> list[dict]:
    """The training time per step (the manifest's ``timings_s``), then the whole."""
    t = run.manifest().timings_s
    beside = "segmentation_and_propensity" in t
    rows = []
    for key, label in STEPS:
        if key not in t:
            continue
        if beside and key in ("segmentation", "propensity"):
            label += " (within the side-by-side step)"
        rows.append({"step": label, "seconds": f"{t[key]:.1f}"})
    rows.append({"step": "in all", "seconds": f"{store.total_seconds(t):.1f}"})
    return rows


def propensity_rows(run: store.Run) -> list[dict]:
    """The scorers on the test rows: ROC-AUC and PR-AUC (average precision) with 95%
    bootstrap intervals, log loss, Brier score, ECE, top-decile lift."""
    return [{"scorer": r["model"], "ROC-AUC [95% CI]": _with_ci(r["roc_auc"], r.get("roc_auc_ci")),
             "PR-AUC [95% CI]": _with_ci(r["pr_auc"], r.get("pr_auc_ci")), "log loss": _num(r.get("log_loss"), ".4f"),
             "Brier": _num(r.get("brier"), ".4f"), "ECE": _num(r.get("ece"), ".4f"),
             "top-decile lift": _num(r.get("lift_top_decile"), ".2f")} for r in run.metrics().comparison]


def propensity_note(run: store.Run) -> str:
    """The tuning, the chosen model, the class weights, the calibration, capture, profit and
    grade, as the run recorded them."""
    m = run.metrics()
    pm = m.propensity_model
    trials = pm.trials
    best = min(trials, key=lambda t: t["val_log_loss"])
    chosen = next(t for t in trials if t["chosen"])
    p, spw, cal = pm.params, pm.scale_pos_weight, pm.calibration
    gap = (f"XGBoost is {m.oracle.roc_auc - m.xgboost.roc_auc:.4f} ROC-AUC and {m.oracle.pr_auc - m.xgboost.pr_auc:.4f} "
           "PR-AUC from the oracle (the generator's true probability). " if m.oracle else "")
    capture = ", ".join(f"{c['contact_share']:.1%} reach {c['buyers_share']:.0%}" for c in m.capture)
    pr = m.profit
    return (f"{gap}Tuning: {len(trials)} Optuna trials in {pm.tuning_seconds:.0f} s"
            f"{' (stopped by the time cap)' if pm.tuning_stopped_by_time else ''}; the chosen model (depth "
            f"{p['max_depth']}, learning rate {p['learning_rate']:.3g}, {pm.n_trees} trees) is the smallest within "
            f"0.1% of the best validation log loss ({chosen['val_log_loss']:.4f} vs {best['val_log_loss']:.4f}); "
            f"`scale_pos_weight` {'raised' if spw['used'] else 'did not raise'} validation PR-AUC "
            f"({spw['val_pr_auc_on']:.4f} vs {spw['val_pr_auc_off']:.4f}) and was {'used' if spw['used'] else 'left off'}; "
            f"calibration: {cal['method']} ({cal.get('why', '')}{_brier_candidates(cal)}). Capture of the next period's buyers: {capture}. "
            f"Contacting at the profit threshold (cost {pr.contact_cost:g}, conversion value "
            f"{pr.conversion_value:g}: p >= {pr.threshold:.2f}) reaches {pr.recall:.0%} of buyers with "
            f"{pr.contact_share:.0%} of customers: profit {pr.realised_profit:,.0f} on the test rows against "
            f"{pr.profit_contact_all:,.0f} for contacting everyone. Grade: {m.grade.grade}.")


def _brier_candidates(cal: dict) -> str:
    """The calibration candidates' cross-fitted Brier scores, as text ('' when not kept)."""
    brier = cal.get("brier_cv") or {}
    return ("; cross-fitted Brier: " + ", ".join(f"{k} {v:.5f}" for k, v in brier.items())) if brier else ""


def candidate_rows(run: store.Run) -> list[dict]:
    """The HDBSCAN parameter search on the UMAP embedding, one row per candidate: the run's
    ``hdbscan_candidates`` (empty when the run fitted no HDBSCAN)."""
    f = _num
    return [{"min cluster size": c["min_cluster_size"], "min samples": c["min_samples"], "selection": c["selection"],
             "segments": c["clusters"], "noise": f(c.get("noise_share"), ".1%"), "smallest": f(c.get("smallest_share"), ".1%"),
             "DBCV": f(c.get("dbcv"), ".3f"), "bootstrap ARI": f(c.get("stability"), ".2f"),
             "rules reproduce (sample)": f(c.get("rule_fidelity"), ".1%"),
             "actionable": "yes" if c.get("actionable") else "", "chosen": "yes" if c.get("chosen") else ""}
            for c in run.metrics().segmentation.hdbscan_candidates]


def approach_rows(run: store.Run) -> list[dict]:
    """Clustering vs classification on the run's test rows: each customer scored by their
    segment's training purchase rate, against the propensity model
    (:func:`core.activation.playbook.segment_only_scores`)."""
    target = run.spec().target
    cmp = playbook.segment_only_scores(run.table("scored"), target)
    return [{"score": "the segment's purchase rate (clustering alone)", "ROC-AUC": f"{cmp['segments']['roc_auc']:.3f}",
             "PR-AUC": f"{cmp['segments']['pr_auc']:.3f}", "test rows": f"{cmp['test_rows']:,}"},
            {"score": "the propensity model (classification)", "ROC-AUC": f"{cmp['classifier']['roc_auc']:.3f}",
             "PR-AUC": f"{cmp['classifier']['pr_auc']:.3f}", "test rows": f"{cmp['test_rows']:,}"}]


def method_rows(run: store.Run) -> list[dict]:
    """The segmentation methods compared on the fitted sample (one row: the configured one)."""
    seg = run.metrics().segmentation
    rows = []
    for r in seg.method_comparison:
        name = METHOD_NAMES.get(r["method"], r["method"])
        if r.get("segments") is None:
            rows.append({"method": name, "segments": None, "smallest": None, "bootstrap ARI": None,
                         "assignment agrees": None, "rules reproduce (sample)": None, "silhouette scaled": None,
                         "kept": r.get("note", "")})
            continue
        rows.append({"method": name, "segments": r["segments"], "smallest": _num(r.get("smallest_share"), ".1%"),
                     "bootstrap ARI": _num(r.get("bootstrap_ari"), ".2f"),
                     "assignment agrees": _num(r.get("assignment_agreement"), ".1%"),
                     "rules reproduce (sample)": _num(r.get("rule_fidelity"), ".1%"),
                     "silhouette scaled": _num(r.get("silhouette_scaled"), ".3f"), "kept": "yes" if r.get("chosen") else ""})
    if not rows:
        rows.append({"method": METHOD_NAMES.get(seg.method, seg.method) + " (configured)", "segments": seg.n_segments,
                     "smallest": None, "bootstrap ARI": _num(seg.bootstrap_ari, ".2f"),
                     "assignment agrees": _num(seg.assignment_agreement, ".1%"), "rules reproduce (sample)": None,
                     "silhouette scaled": _num(seg.silhouette_scaled, ".3f"), "kept": "yes"})
    return rows


def segment_rows(run: store.Run) -> list[dict]:
    """The segments: persona name, customers, share, purchase rate, average spend, rules."""
    return [{"segment": p.segment_id, "persona name": p.name, "customers": f"{p.size:,}", "share": f"{p.share:.1%}",
             "purchase rate": _num(p.purchase_rate, ".1%"), "average spend": _num(p.average_spend, ",.0f"),
             "rules reproduce": _num(p.rule_fidelity, ".0%")} for p in run.profiles()]


def add_run(record: Record, run: store.Run, what: str = "") -> None:
    """Add the run's tables to ``record`` (``what`` prefixes their titles), and its method
    choice as a note."""
    seg = run.metrics().segmentation
    prefix = f"{what}: " if what else ""
    record.table(f"{prefix}propensity on the test rows", propensity_rows(run), propensity_note(run))
    record.table(f"{prefix}segmentation methods compared", method_rows(run),
                 f"Kept: {seg.choice_reason or seg.method}." + (
                     f" Depth-{seg.surrogate_depth} rules reproduce {seg.surrogate_fidelity:.1%} of all customers' "
                     "segments." if seg.surrogate_fidelity is not None else "") + (
                     f" ARI of the segments against the generator's personas: {seg.ari_vs_true_persona:.2f}."
                     if seg.ari_vs_true_persona is not None else ""))
    candidates = candidate_rows(run)
    if candidates:
        record.table(f"{prefix}HDBSCAN candidates on the UMAP embedding", candidates,
                     f"Hopkins statistic of the scaled sample: {seg.hopkins:.2f} (about 0.50 without cluster structure).")
    record.table(f"{prefix}segments", segment_rows(run))
    record.table(f"{prefix}clustering vs classification on the test rows", approach_rows(run))
