"""The README's default-run tables, regenerated from a run.

Run: ``.venv/bin/python benchmarks/readme_tables.py [--artifacts DIR] [--run RUN_ID]
[--write README.md]``. Reads the run (default: the current run of ``artifacts``, which
``python -m core --artifacts DIR train`` made) and prints, as Markdown:

- ``default-run``: the run id, seed, rows, the training time per step (the manifest's
  ``timings_s``) and the method ``auto`` kept, with its reason;
- ``default-propensity``: the test comparison table (ROC-AUC and PR-AUC = average
  precision with their 95% bootstrap intervals, log loss, Brier score, ECE, top-decile
  lift; ``metrics.json`` ``comparison``);
- ``default-propensity-notes``: the tuning, the chosen model, class weights, calibration,
  capture, profit and grade;
- ``default-methods``: the segmentation methods compared on the fitted sample (segments,
  smallest share, bootstrap ARI, rule fidelity, silhouette; ``method_comparison``);
- ``default-segments``: the segments (persona name, customers, share, purchase rate,
  average spend, rule fidelity; ``profiles.json``).

With ``--write FILE`` each block replaces what stands between ``<!-- readme_tables:NAME -->``
and ``<!-- /readme_tables:NAME -->`` in FILE (a block whose markers are missing is an
error naming it), so the README states what the command that made the run gives.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.errors import DataError  # noqa: E402
from core.runs import store

METHOD_NAMES = {"umap+hdbscan": "UMAP + HDBSCAN", "umap+kmeans": "UMAP + KMeans", "kmeans": "KMeans (k by silhouette)",
                "gmm": "Gaussian mixture (k by BIC)"}
STEPS = [("generate", "generate"), ("load_validate", "read and validate"), ("split_guard", "split and leakage guard"),
         ("segmentation", "segmentation"), ("propensity", "propensity"), ("evaluate", "evaluation"),
         ("explain", "explanation"), ("score", "scoring"), ("save", "saving")]


def _num(v, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def _with_ci(v, ci) -> str:
    return "-" if v is None else f"{v:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else f"{v:.3f}"


def _read(run: store.Run, name: str):
    return json.loads((run.path / name).read_text(encoding="utf-8"))


def run_block(run: store.Run) -> str:
    """The ``default-run`` lines of ``run``."""
    man, metrics = _read(run, "manifest.json"), _read(run, "metrics.json")
    t = man["timings_s"]
    beside = "segmentation_and_propensity" in t  # the propensity fit ran in the segmentation's workers

    def step(key, label):
        if beside and key == "segmentation":
            return (f"segmentation and the propensity fit side by side {t['segmentation_and_propensity']:.1f} s "
                    f"(the propensity fit's own {t['propensity']:.1f} s)")
        return f"{label} {t[key]:.1f} s"

    steps = ", ".join(step(key, label) for key, label in STEPS if key in t and not (beside and key == "propensity"))
    seg = metrics["segmentation"]
    extra = []
    if seg.get("surrogate_fidelity") is not None:
        extra.append(f"depth-{seg.get('surrogate_depth', 4)} rules reproduce {seg['surrogate_fidelity']:.1%} of all "
                     "customers' segments")
    if seg.get("ari_vs_true_persona") is not None:
        extra.append(f"ARI against the generator's personas {seg['ari_vs_true_persona']:.2f}")
    if seg.get("hopkins") is not None:
        extra.append(f"Hopkins statistic {seg['hopkins']:.2f}")
    if seg.get("assignment_agreement") is not None:
        extra.append(f"the nearest-neighbour assignment agrees with the fitted labels on "
                     f"{seg['assignment_agreement']:.1%} of held-out sample customers")
    return (f"Run `{run.run_id}` (seed {man['seed']}, {man['rows']:,} customers): "
            f"{store.total_seconds(t):.1f} s in all: {steps}.\n"
            f"Method kept: {seg.get('choice_reason') or seg['method']}."
            + (f" Of the kept segments: {'; '.join(extra)}." if extra else ""))


def propensity_block(metrics: dict) -> str:
    """The ``default-propensity`` table."""
    lines = ["| scorer | ROC-AUC [95% CI] | PR-AUC [95% CI] | log loss | Brier | ECE | top-decile lift |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in metrics["comparison"]:
        lines.append(f"| {r['model']} | {_with_ci(r['roc_auc'], r.get('roc_auc_ci'))} | "
                     f"{_with_ci(r['pr_auc'], r.get('pr_auc_ci'))} | {_num(r.get('log_loss'), '.4f')} | "
                     f"{_num(r.get('brier'), '.4f')} | {_num(r.get('ece'), '.4f')} | "
                     f"{_num(r.get('lift_top_decile'), '.2f')} |")
    return "\n".join(lines)


def propensity_notes(metrics: dict) -> str:
    """The ``default-propensity-notes`` paragraph: the tuning, the chosen model, the class
    weights, the calibration, capture, profit and grade, as the run recorded them."""
    pm = metrics["propensity_model"]
    trials = pm["trials"]
    best = min(trials, key=lambda t: t["val_log_loss"])
    chosen = next(t for t in trials if t["chosen"])
    p, spw, cal = pm["params"], pm["scale_pos_weight"], pm["calibration"]
    xgb, oracle = metrics.get("xgboost") or {}, metrics.get("oracle")
    gap = (f"XGBoost is {oracle['roc_auc'] - xgb['roc_auc']:.4f} ROC-AUC and {oracle['pr_auc'] - xgb['pr_auc']:.4f} "
           "PR-AUC from the oracle. " if oracle and xgb else "")
    capture = ", ".join(f"{c['contact_share']:.1%} reach {c['buyers_share']:.0%}" for c in metrics["capture"])
    pr = metrics["profit"]
    return (f"{gap}Tuning: {len(trials)} Optuna trials in {pm['tuning_seconds']:.0f} s"
            f"{' (stopped by the time cap)' if pm.get('tuning_stopped_by_time') else ''}; the chosen model (depth "
            f"{p['max_depth']}, learning rate {p['learning_rate']:.3g}, {pm['n_trees']} trees) is the smallest within "
            f"0.1% of the best validation log loss ({chosen['val_log_loss']:.4f} vs {best['val_log_loss']:.4f}); "
            f"`scale_pos_weight` {'raised' if spw['used'] else 'did not raise'} validation PR-AUC "
            f"({spw['val_pr_auc_on']:.4f} vs {spw['val_pr_auc_off']:.4f}) and was {'used' if spw['used'] else 'left off'}; "
            f"calibration: {cal['method']} ({cal.get('why', '')}). Capture of next month's buyers: {capture}. "
            f"Contacting at the profit threshold (cost {pr['contact_cost']:g}, conversion value "
            f"{pr['conversion_value']:g}: p >= {pr['threshold']:.2f}) reaches {pr['recall']:.0%} of buyers with "
            f"{pr['contact_share']:.0%} of customers: profit {pr['realised_profit']:,.0f} on the test rows against "
            f"{pr['profit_contact_all']:,.0f} for contacting everyone. Grade: {metrics['grade']['grade']}.")


def methods_block(metrics: dict) -> str:
    """The ``default-methods`` table (one row: the configured method alone)."""
    seg = metrics["segmentation"]
    rows = seg.get("method_comparison") or []
    lines = ["| method | segments | smallest | bootstrap ARI | assignment agrees | rules reproduce (sample) | "
             "silhouette scaled | kept |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        if r.get("segments") is None:
            lines.append(f"| {METHOD_NAMES.get(r['method'], r['method'])} | - | - | - | - | - | - | {r.get('note', '')} |")
            continue
        lines.append(f"| {METHOD_NAMES.get(r['method'], r['method'])} | {r['segments']} | "
                     f"{_num(r.get('smallest_share'), '.1%')} | {_num(r.get('bootstrap_ari'), '.2f')} | "
                     f"{_num(r.get('assignment_agreement'), '.1%')} | "
                     f"{_num(r.get('rule_fidelity'), '.1%')} | {_num(r.get('silhouette_scaled'), '.3f')} | "
                     f"{'yes' if r.get('chosen') else ''} |")
    if not rows:
        lines.append(f"| {METHOD_NAMES.get(seg['method'], seg['method'])} (configured) | {seg['n_segments']} | - | "
                     f"{_num(seg.get('bootstrap_ari'), '.2f')} | {_num(seg.get('assignment_agreement'), '.1%')} | - | "
                     f"{_num(seg.get('silhouette_scaled'), '.3f')} | yes |")
    return "\n".join(lines)


def segments_block(profiles: list[dict]) -> str:
    """The ``default-segments`` table."""
    lines = ["| segment | persona name | customers | share | bought in next 30 days | average spend | rules reproduce |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for p in profiles:
        lines.append(f"| {p['segment_id']} | {p['name']} | {p['size']:,} | {p['share']:.1%} | "
                     f"{_num(p.get('purchase_rate'), '.1%')} | {_num(p.get('average_spend'), ',.0f')} | "
                     f"{_num(p.get('rule_fidelity'), '.0%')} |")
    return "\n".join(lines)


def blocks(run: store.Run) -> dict[str, str]:
    """Every block of ``run`` by name."""
    metrics = _read(run, "metrics.json")
    profiles = _read(run, "profiles.json")
    return {"default-run": run_block(run), "default-propensity": propensity_block(metrics),
            "default-propensity-notes": propensity_notes(metrics), "default-methods": methods_block(metrics),
            "default-segments": segments_block(profiles)}


def write(path: Path, new: dict[str, str]) -> str:
    """``path``'s text with each block replaced between its markers; raises DataError naming
    a block whose markers are missing."""
    text = path.read_text(encoding="utf-8")
    for name, body in new.items():
        tag = re.escape(name)
        pattern = re.compile(rf"(<!-- readme_tables:{tag} -->\n)(?:.*?\n)?(<!-- /readme_tables:{tag} -->)", re.S)
        if not pattern.search(text):
            raise DataError(f"{path}: no <!-- readme_tables:{name} --> ... <!-- /readme_tables:{name} --> markers")
        text = pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--artifacts", default="artifacts", help="runs folder (default: artifacts)")
    ap.add_argument("--run", default=None, help="run id (default: the current run)")
    ap.add_argument("--write", default=None, help="a Markdown file with readme_tables markers to update")
    args = ap.parse_args(argv)
    try:
        run = store.load_run(Path(args.artifacts), args.run)
        out = blocks(run)
        if args.write:
            path = Path(args.write)
            path.write_text(write(path, out), encoding="utf-8")
    except (DataError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name, body in out.items():
        print(f"<!-- readme_tables:{name} -->\n{body}\n<!-- /readme_tables:{name} -->\n")
    if args.write:
        print(f"updated {args.write} from run {run.run_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
