"""The named steps of a training (:mod:`core.pipeline.training`): each a function of data and
settings returning a typed result; none touches the disk."""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

from core.activation import playbook
from core.errors import DataError
from core.inputs import log, tables, validation
from core.inputs.spec import DatasetSpec, spec_hash
from core.models import evaluation, explain, propensity
from core.models.segmentation import Segmenter, continuity, profiling
from core.models.segmentation.merging import merge_note, merge_small_segments
from core.pipeline import log_table
from core.pipeline.scoring import expected_spend, scored_frame
from core.runs import results as R
from core.runs import store
from core.settings import Settings

Progress = Callable[[float, str], None]


@dataclass
class LoadedTable:
    """Step 1: the validated table (n rows), its quality summary, its hash, where it came from,
    the target as an int array of shape (n,), and for a log-built table the log's summary
    (cutoffs, horizon, windows, snapshots, notes; None for a customer table)."""

    clean: pd.DataFrame
    quality: dict
    data_hash: str
    source: str
    y: np.ndarray
    origin: dict | None = None


@dataclass
class Split:
    """Step 2: ``"train"`` / ``"val"`` / ``"test"`` per row (shape (n,)) and each feature's
    single-feature ROC-AUC from the leakage guard."""

    rows: np.ndarray
    single_feature_auc: dict


@dataclass
class Segments:
    """Steps 3-5: the fitted segmenter, every customer's assignment (n rows: ``segment_id``
    with public ids after step 4, ``segment_confidence``, ``segment_reassigned``), the link
    to the previous run, profiles, rules and names."""

    segmenter: Segmenter
    assigned: pd.DataFrame
    link: dict | None = None
    profiles: list[dict] | None = None
    rules: dict | None = None
    names: dict[int, str] | None = None


@dataclass
class Explanation:
    """Step 8: the explainer, the importance table, the SHAP summary points and the
    agreement of the reasons with XGBoost's own TreeSHAP."""

    explainer: object
    importance: pd.DataFrame
    shap_points: pd.DataFrame
    reason_agreement: dict


@dataclass
class ScoredTable:
    """Step 9: the scored training table, its validated features (same rows and order), the
    propensity-by-segment matrix, per-segment propensity figures, the unseen-category
    counts of the training table, and for a snapshot table the figures per snapshot."""

    scored: pd.DataFrame
    features: pd.DataFrame
    matrix: pd.DataFrame
    segment_metrics: list[dict]
    unseen: dict
    per_snapshot: list[dict] | None = None


def load_table(data_path: str | Path, spec: DatasetSpec, progress: Progress, sheet: str | None = None) -> LoadedTable:
    """Read and validate the training table (:func:`core.inputs.tables.read_table`, ``sheet`` of a
    workbook; :func:`core.inputs.validation.validate` with the target) and hash it as read. Raises
    DataError."""
    progress(0.02, f"reading {data_path}")
    raw = tables.read_table(data_path, spec, sheet)
    clean, quality = validation.validate(raw, spec, require_target=True, source=str(data_path))
    data_hash = tables.frame_hash(raw)
    return LoadedTable(clean, quality, data_hash, str(data_path), clean[spec.target].to_numpy(int))


def load_log(log_path: str | Path, log_spec, progress: Progress) -> tuple[LoadedTable, DatasetSpec]:
    """Read a transaction log, build its snapshot table (:mod:`core.inputs.log`: features strictly
    before each cutoff, labels in the window after it, BG/NBD fitted per cutoff), check that
    no earlier label window reaches the test cutoff, and validate the table against the
    derived spec. Returns the loaded table (hash of the log as read) and that spec.

    Raises DataError for a bad log, too short a log, a cutoff outside it, or overlapping
    windows."""

    progress(0.02, f"reading the log {log_path}")
    raw = log.read_log(log_path, log_spec)
    ev, notes = log.events(raw, log_spec, str(log_path))
    ev, log_spec, moved = log.channel_as_attribute(ev, log_spec)
    if moved:
        notes["channel_is_customer_attribute"] = moved
    lines, raw_hash = int(len(raw)), tables.frame_hash(raw)
    del raw  # the events hold what the features need (the log as read, text columns and all, is far larger)
    cuts = log.cutoff_days(log_spec, int(ev["day"].min()), int(ev["day"].max()))
    try:
        windows = log.check_windows(cuts, log_spec.horizon_days)
    except DataError as exc:
        raise DataError(f"{log_path}: {exc}") from None
    progress(0.03, f"snapshots at {len(cuts)} cutoffs: " + "; ".join(windows))
    attrs = log.customer_attributes(ev, log_spec)
    table, spec, summary = log_table.snapshot_table(ev, log_spec, cuts, attrs)
    flat = [cut for cut, fit in summary["btyd"].items() if fit.get("note")]
    if flat:
        notes["bgnbd_flat_cutoffs"] = flat
    clean, quality = validation.validate(table, spec, require_target=True, source=str(log_path))
    origin = {"kind": "log", "path": str(log_path), "lines": lines, "events": int(len(ev)),
              "customers": int(ev["customer_id"].nunique()), "first_day": log.day_iso(int(ev["day"].min())),
              "last_day": log.day_iso(int(ev["day"].max())), "windows": windows, "notes": notes,
              "log_spec": dataclasses.asdict(log_spec),
              "candidate_features": {"candidates": list(log.CANDIDATE_FEATURES)}, **summary}
    return LoadedTable(clean, quality, raw_hash, str(log_path), clean[spec.target].to_numpy(int),
                       origin), spec


def judge_candidates(table: LoadedTable, spec: DatasetSpec, split: Split, categories: dict, settings: Settings,
                     progress: Progress) -> DatasetSpec:
    """Keep or drop the table's candidate features (for a log: BG/NBD's P(alive) and
    expected purchases) by :func:`core.models.propensity.judge_candidates` on the validation rows;
    the decision is written into the table's origin (``candidate_features``) and the spec
    returned has the kept columns."""
    names = [c for c in table.origin["candidate_features"]["candidates"] if c in spec.feature_names]
    progress(0.05, f"judging the candidate features {', '.join(names)} on the validation snapshot")
    verdict = propensity.judge_candidates(table.clean, spec, split.rows, categories, names, settings.seed,
                                          settings.n_jobs)
    table.origin["candidate_features"] = verdict
    if verdict["keep"]:
        return spec
    return dataclasses.replace(spec, columns=tuple(c for c in spec.columns if c.name not in names))


def split_and_guard(table: LoadedTable, spec: DatasetSpec, settings: Settings) -> Split:
    """The split (:func:`core.models.propensity.split_rows`: stratified, or out of time on the spec's
    ``snapshot_column``) and the leakage guard on the training rows
    (:func:`core.models.propensity.leakage_check`). Fails fast, before any fit.

    Raises
    ------
    DataError
        Too few positives or negatives, or a leaky feature (the message names the file).
    """
    clean = table.clean
    try:
        snapshot = clean[spec.snapshot_column] if spec.snapshot_column else None
        rows = propensity.split_rows(table.y, settings.propensity, settings.seed, snapshot)
        auc = propensity.leakage_check(clean, spec, table.y, rows == "train", settings.propensity.leakage_max_auc,
                                       settings.seed)
    except DataError as exc:
        raise DataError(f"{table.source}: {exc}") from None
    return Split(rows, auc)


def fit_segments(clean: pd.DataFrame, spec: DatasetSpec, categories: dict, settings: Settings,
                 progress: Progress, beside: tuple | None = None) -> Segments:
    """Fit the segmenter on a sample and assign every customer (:mod:`core.models.segmentation`),
    clusters below the minimum segment size in customers (as of the latest cutoff on a run
    built from a log) merged into their nearest segment
    (:func:`core.models.segmentation.merging.merge_small_segments`); ``beside``, a call the
    segmentation's workers run too (:meth:`Segmenter.fit`). Raises DataError when the
    segmentation inputs cannot form segments."""
    progress(0.08, "segmentation: fitting on a sample")
    seg = Segmenter(settings=settings.segmentation, random_state=settings.seed, n_jobs=settings.n_jobs)
    seg.fit(clean, spec, categories, progress=lambda m: progress(0.2, "segmentation: " + m), beside=beside)
    progress(0.45, f"segmentation: assigning {len(clean):,} customers")
    counted = latest_snapshot_rows(clean, spec)
    assigned, merged = merge_small_segments(seg, clean, seg.assign(clean), counted,
                                            settings.segmentation.min_segment_share)
    seg.fit_info_["merged_clusters"] = merge_note(merged, counted is not None)
    seg.fit_info_["n_segments"] = int(seg.n_segments_)  # the segments the run shows, after any merge
    for line in seg.fit_info_["merged_clusters"]:
        progress(0.46, "segmentation: " + line)
    return Segments(seg, assigned)


def link_segments(segments: Segments, previous: continuity.PreviousSegmentation | None, clean: pd.DataFrame,
                  spec: DatasetSpec, settings: Settings, progress: Progress) -> Segments:
    """Match the new segments to the previous run's (:func:`core.models.segmentation.continuity.link_to_previous`)
    and give them public ids; returns ``segments`` with ``link`` set and ``assigned``
    renumbered."""
    progress(0.47, "segmentation: matching segments to the current run's")
    seg = segments.segmenter
    link = continuity.link_to_previous(previous, seg, clean, segments.assigned["segment_id"].to_numpy(),
                                       settings.segmentation.match_min_jaccard, spec.name)
    seg.relabel(link["mapping"])
    assigned = segments.assigned.copy()
    assigned["segment_id"] = seg.segment_ids_[assigned["segment_id"].to_numpy()]
    segments.assigned, segments.link = assigned, link
    return segments


def latest_snapshot_rows(clean: pd.DataFrame, spec: DatasetSpec) -> np.ndarray | None:
    """Bool array (n,): the rows of the latest snapshot of a table of stacked snapshots (a
    log-built run: each customer once, as of the latest cutoff), or None for a customer table."""
    if not spec.snapshot_column or spec.snapshot_column not in clean:
        return None
    dates = pd.to_datetime(clean[spec.snapshot_column])
    return (dates == dates.max()).to_numpy()


def describe_segments(segments: Segments, clean: pd.DataFrame, spec: DatasetSpec, settings: Settings) -> Segments:
    """Profiles (:func:`core.models.segmentation.profiling.profile_segments`; on stacked snapshots the sizes
    count the customers of the latest snapshot, :func:`latest_snapshot_rows`), names carried from the previous
    run (:func:`core.models.segmentation.continuity.carry_names`), depth-4 rules and descriptions; the
    transition matrix when compared with a previous run."""
    ids = segments.assigned["segment_id"].to_numpy()
    link = segments.link
    profiles = profiling.profile_segments(clean, ids, spec, latest_snapshot_rows(clean, spec))
    continuity.carry_names(profiles, link)
    rules = profiling.surrogate_rules(clean, ids, spec, segments.segmenter.columns_, settings.seed)
    base_rate = float(clean[spec.target].mean())
    for p in profiles:
        r = rules["segments"].get(p["segment_id"], {"fidelity": 0.0, "rules": []})
        p["rules"], p["rule_fidelity"] = r["rules"], r["fidelity"]
        p["description"] = profiling.describe_segment(p, spec, base_rate)
    if link["previous_run"]:
        link["transitions"] = continuity.transition_matrix(
            link.pop("previous_scored"), clean[spec.id_column], ids).to_dict("records")
    link.pop("previous_scored", None)
    segments.profiles, segments.rules = profiles, rules
    segments.names = {p["segment_id"]: p["name"] for p in profiles}
    return segments


def fit_propensity(clean: pd.DataFrame, spec: DatasetSpec, split: Split, categories: dict, settings: Settings,
                   progress: Progress) -> propensity.PropensityModels:
    """The logistic baseline and the tuned, calibrated XGBoost (:func:`core.models.propensity.fit`)."""
    progress(0.55, "propensity: logistic baseline and XGBoost (Optuna tuning, early stopping, calibration)")
    return propensity.fit(clean, spec, split.rows, categories, settings.propensity, settings.seed, settings.n_jobs,
                          progress=lambda m: progress(0.6, "propensity: " + m))


def _propensity_in_worker(clean: pd.DataFrame, spec: DatasetSpec, split: Split, categories: dict,
                          settings: Settings) -> tuple[propensity.PropensityModels, float, list[str]]:
    """:func:`fit_propensity` as a worker process runs it: on one thread (XGBoost's
    ``nthread`` and BLAS, threadpoolctl), since the segmentation has the other core.
    Returns ``(models, seconds, progress messages)``. XGBoost's result does not depend on
    its thread count (``tests/pipeline/test_reproducibility.py`` trains with 1 and 2)."""
    from threadpoolctl import threadpool_limits

    messages: list[str] = []
    t0 = time.perf_counter()
    with threadpool_limits(1):
        models = fit_propensity(clean, spec, split, categories, dataclasses.replace(settings, n_jobs=1),
                                lambda fraction, message: messages.append(message))
    return models, round(time.perf_counter() - t0, 3), messages


def fit_propensity_pinned(clean: pd.DataFrame, spec: DatasetSpec, split: Split, categories: dict, settings: Settings,
                          progress: Progress, timings: dict) -> propensity.PropensityModels:
    """:func:`fit_propensity` for ``n_jobs = 1``, where ``n_jobs`` > 1 fits it
    (:func:`_propensity_in_worker`): on one thread with OpenBLAS's portable kernels
    (:data:`core.models.segmentation.reducers.PORTABLE_BLAS`), in the pinned worker
    (:func:`~core.models.segmentation.reducers.pinned_worker`) when this process's OpenBLAS
    picked other kernels for its CPU. The logistic baseline's solver sums in the kernels'
    order: on an AVX-512 CPU a fit here and one in a worker differed in their last bits, so
    the runs of ``n_jobs = 1`` and 2 did (``tests/pipeline/test_reproducibility.py``).
    ``timings["propensity"]`` gets the fit's own seconds."""
    from core.models.segmentation.reducers import in_pinned_process, pinned_worker

    progress(0.55, "propensity: logistic baseline and XGBoost (Optuna tuning, early stopping, calibration)")
    args = (clean, spec, split, categories, settings)
    if in_pinned_process():
        models, timings["propensity"], messages = _propensity_in_worker(*args)
    else:
        models, timings["propensity"], messages = pinned_worker().submit(_propensity_in_worker, *args).result()
    for message in messages:
        progress(0.6, message)
    return models


def _segment_beside_propensity(segment: Callable[..., Segments], clean: pd.DataFrame, spec: DatasetSpec,
                               split: Split, categories: dict, settings: Settings, progress: Progress,
                               timings: dict) -> tuple[Segments, propensity.PropensityModels]:
    """Steps 3-6 with the two cores used together: the propensity models are fitted by
    :func:`_propensity_in_worker` as one more call of the segmentation's two worker
    processes, the first they start (``segment(beside=call)``,
    :meth:`core.models.segmentation.Segmenter.fit`); neither depends on the other. Their messages
    come after the segmentation's; ``timings`` gets ``segmentation`` (its wall time, the
    propensity fit included), ``propensity`` (the worker's own seconds) and
    ``segmentation_and_propensity``. An error in either is raised (the worker's as it was
    raised there), and the workers are stopped when one fails."""
    t0 = time.perf_counter()
    progress(0.08, "propensity: logistic baseline and XGBoost in the segmentation's workers, beside it")
    segments = segment(beside=(_propensity_in_worker, (clean, spec, split, categories, settings)))
    timings["segmentation"] = round(time.perf_counter() - t0, 3)
    models, timings["propensity"], messages = segments.segmenter.__dict__.pop("beside_result_")
    models.booster.set_param({"nthread": settings.n_jobs})  # explaining and scoring here use both cores again
    for message in messages:
        progress(0.6, message)
    timings["segmentation_and_propensity"] = round(time.perf_counter() - t0, 3)
    return segments, models


def evaluate_propensity(models: propensity.PropensityModels, clean: pd.DataFrame, spec: DatasetSpec, split: Split,
                        settings: Settings, progress: Progress) -> dict:
    """Test metrics (:func:`core.models.propensity.evaluate`), with the leakage guard's figures."""
    progress(0.75, "propensity: test metrics with bootstrap intervals, calibration, lift, budget")
    metrics = propensity.evaluate(models, clean, spec, split.rows, settings.propensity, settings.seed)
    metrics["leakage_single_feature_auc"] = split.single_feature_auc
    return metrics


def explain_model(models: propensity.PropensityModels, clean: pd.DataFrame, spec: DatasetSpec, settings: Settings,
                  progress: Progress) -> Explanation:
    """SHAP importance and summary points on a seeded sample of ``shap_sample`` rows, and the
    agreement of the pattern TreeSHAP (:class:`core.models.fastshap.TreeShapPatterns`) with
    XGBoost's own on 2,000 of them."""
    progress(0.8, "explaining: SHAP importance on a sample")
    rng = np.random.default_rng(settings.seed)
    sample = np.sort(rng.choice(len(clean), size=min(settings.propensity.shap_sample, len(clean)), replace=False))
    X_sample, _ = models.frame(clean.iloc[sample], spec)
    explainer = explain.TreeShapPatterns(models.booster, models.best_iteration + 1)
    contrib = explainer.shap_values(X_sample)
    importance = explain.importance_table(contrib, list(X_sample.columns), spec)
    points = explain.shap_points(X_sample, contrib, importance["feature"].head(10).tolist(), spec)
    agreement = explain.agreement_with_treeshap(models.booster, models.best_iteration + 1, explainer,
                                                X_sample.iloc[:2000])
    return Explanation(explainer, importance, points, agreement)


def score_table(models: propensity.PropensityModels, segments: Segments, explanation: Explanation, table: LoadedTable,
                spec: DatasetSpec, split: Split, settings: Settings, progress: Progress) -> ScoredTable:
    """Score the training table (segments, calibrated propensity, reasons for every
    customer), with the split and target columns; the matrix (:func:`core.activation.playbook.segment_matrix`)
    and the per-segment calibration and ROC-AUC on the test rows."""
    progress(0.85, "scoring the training table (segments, calibrated propensity, reasons)")
    clean, y = table.clean, table.y
    X_all, unseen = models.frame(clean, spec)
    p = models.predict_X(X_all)
    reasons = explain.reason_texts(X_all, explain.contributions(explanation.explainer, X_all, settings.n_jobs), spec)
    del X_all
    scored = scored_frame(clean[spec.id_column], segments.assigned, segments.names, p, models.decile_cuts, reasons,
                          expected_spend(clean))
    scored["split"] = split.rows
    scored[spec.target] = y
    te = split.rows == "test"
    features = clean[[spec.id_column] + spec.feature_names].reset_index(drop=True)
    if spec.snapshot_column:  # stacked snapshots: the matrix shows the customers as of the latest cutoff
        matrix = playbook.segment_matrix(scored[te].reset_index(drop=True), y[te], None,
                                         features[te].reset_index(drop=True), spec)
    else:
        matrix = playbook.segment_matrix(scored, y, te, features, spec)
    names = segments.names
    seg_metrics = evaluation.segment_metrics(y[te], p[te], scored["segment_id"].to_numpy()[te]).assign(
        name=lambda d: d["segment_id"].map(names)).to_dict("records")
    per = per_snapshot_figures(clean, spec, split.rows, y, p) if spec.snapshot_column else None
    return ScoredTable(scored, features, matrix, seg_metrics, unseen, per)


def per_snapshot_figures(clean: pd.DataFrame, spec: DatasetSpec, rows: np.ndarray, y: np.ndarray,
                         p: np.ndarray) -> list[dict]:
    """One row per snapshot: its date, role (train, val, test), customers, positive rate and
    the model's ROC-AUC and PR-AUC on its rows (in-sample on train snapshots), beside BG/NBD's
    where the table has it."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    dates = pd.to_datetime(clean[spec.snapshot_column]).dt.date.astype(str).to_numpy()
    out = []
    for d in sorted(set(dates)):
        m = dates == d
        row = {"snapshot": d, "role": "+".join(sorted(set(rows[m]), key=["train", "val", "test"].index)),
               "customers": int(m.sum()), "positive_rate": float(y[m].mean())}
        both = 0 < y[m].sum() < m.sum()
        row["roc_auc"] = float(roc_auc_score(y[m], p[m])) if both else None
        row["pr_auc"] = float(average_precision_score(y[m], p[m])) if both else None
        if "_bgnbd_p" in clean:
            b = clean["_bgnbd_p"].to_numpy(float)[m]
            row["bgnbd_roc_auc"] = float(roc_auc_score(y[m], b)) if both else None
            row["bgnbd_pr_auc"] = float(average_precision_score(y[m], b)) if both else None
        out.append(row)
    return out


def assemble(table: LoadedTable, spec: DatasetSpec, categories: dict, settings: Settings, segments: Segments,
             models: propensity.PropensityModels, metrics: dict, explanation: Explanation, scored: ScoredTable,
             timings: dict) -> store.RunArtifacts:
    """The run as :func:`core.runs.store.save_run` writes it: typed results and tables."""
    clean, seg = table.clean, segments.segmenter
    seg_info = dict(seg.fit_info_)
    if "_persona" in clean:
        seg_info["ari_vs_true_persona"] = float(adjusted_rand_score(clean["_persona"], segments.assigned["segment_id"]))
    seg_info["reassigned_share"] = float(segments.assigned["segment_reassigned"].mean())
    seg_info["surrogate_fidelity"] = segments.rules["fidelity"]
    seg_info["surrogate_depth"] = segments.rules["depth"]
    if scored.per_snapshot is not None:
        metrics["per_snapshot"] = scored.per_snapshot
    metrics = {**metrics, "reason_agreement": explanation.reason_agreement,
               "unseen_categories_train": scored.unseen, "segments_propensity": scored.segment_metrics,
               "segmentation": seg_info, "propensity_model": models.info}
    proj = seg.projection_.copy()
    proj["customer_id"] = clean[spec.id_column].to_numpy()[proj["row"]]
    proj = proj.merge(scored.scored[["customer_id", "segment_id", "segment_name", "propensity"]], on="customer_id")
    return store.RunArtifacts(
        booster=models.booster, baseline=models.baseline, segmenter=seg,
        scoring=R.ScoringInfo.from_dict({
            "feature_names": models.feature_names, "categories": categories,
            "decile_cuts": models.decile_cuts, "best_iteration": models.best_iteration,
            "calibrator": models.calibrator, "spec_hash": spec_hash(spec),
            "reference_date": table.quality.get("reference_date"), "segment_names": segments.names,
            "empty_at_training": [c for c in spec.feature_names if clean[c].isna().all()]}, "scoring.json"),
        metrics=R.RunMetrics.from_dict(metrics, "metrics.json"),
        profiles=R.Profiles.from_dict(segments.profiles, "profiles.json").segments,
        quality=R.Quality.from_dict(table.quality, "quality.json"),
        continuity=R.Continuity.from_dict({k: v for k, v in segments.link.items() if k != "mapping"},
                                          "continuity.json"),
        tables={"importance": explanation.importance, "shap_points": explanation.shap_points,
                "scored": scored.scored, "features": scored.features, "matrix": scored.matrix,
                "projection": proj.drop(columns="row")},
        manifest={"dataset": spec.name, "data_path": table.source, "data_hash": table.data_hash,
                  "rows": int(len(clean)), "seed": settings.seed, "settings": settings.to_dict(),
                  "spec": spec.to_dict(), "versions": store.library_versions(), "timings_s": timings,
                  "n_segments": seg.n_segments_, "segmentation_method": seg.method_,
                  **({"source": table.origin} if table.origin else {})})
