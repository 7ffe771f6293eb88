"""Training a run: a short sequence of named steps, then one :func:`core.runs.store.save_run`.

Each step is a function that takes data and settings and returns a typed result; none
touches the disk (the previous run is read before the steps, the run written after them):

1. :func:`~core.pipeline.steps.load_table` - read, validate and hash the table;
2. :func:`~core.pipeline.steps.split_and_guard` - train / validation / test split and the leakage guard;
3. :func:`~core.pipeline.steps.fit_segments` - the segmenter fitted on a sample, every customer assigned;
4. :func:`~core.pipeline.steps.link_segments` - ids and names matched to the previous run (:mod:`core.models.segmentation.continuity`);
5. :func:`~core.pipeline.steps.describe_segments` - profiles, persona names, rules, descriptions;
6. :func:`~core.pipeline.steps.fit_propensity` - the logistic baseline and the tuned, calibrated XGBoost (with
   ``n_jobs`` > 1 in the segmentation's workers while step 3 runs: :func:`~core.pipeline.steps._segment_beside_propensity`;
   with 1 in a process with the same BLAS kernels: :func:`~core.pipeline.steps.fit_propensity_pinned`);
7. :func:`~core.pipeline.steps.evaluate_propensity` - test metrics with intervals, calibration, lift, budget;
8. :func:`~core.pipeline.steps.explain_model` - SHAP importance, summary points, reason agreement;
9. :func:`~core.pipeline.steps.score_table` - the scored training table with reasons, the matrix, per-segment figures;
10. :func:`~core.pipeline.steps.assemble` - the typed results and tables of the run.

Progress goes to a callback ``progress(fraction, message)`` with fraction in 0..1.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

from core.inputs.log import load_log_spec
from core.inputs.shopsphere_spec import resolve_spec
from core.inputs.spec import DatasetSpec
from core.inputs.synthetic import shopsphere
from core.models.features import learn_categories
from core.models.segmentation import continuity
from core.pipeline.steps import (
    LoadedTable,
    Progress,
    _segment_beside_propensity,
    assemble,
    describe_segments,
    evaluate_propensity,
    explain_model,
    fit_propensity_pinned,
    fit_segments,
    judge_candidates,
    link_segments,
    load_log,
    load_table,
    score_table,
    split_and_guard,
)
from core.runs import champions, lock, store
from core.settings import Settings

log = logging.getLogger(__name__)


def previous_segmentation(artifacts: Path, dataset: str) -> continuity.PreviousSegmentation | None:
    """The segmentation of the run a new run of ``dataset`` continues
    (:func:`core.runs.store.previous_run`), read before training starts; None when there is
    none."""
    prev = store.previous_run(artifacts, dataset)
    if prev is None:
        return None
    profiles = prev.profiles()
    ids = [p.segment_id for p in profiles]
    return continuity.PreviousSegmentation(prev.run_id, prev.segmenter(), ids, {p.segment_id: p.name for p in profiles},
                                prev.continuity().next_id, prev.table("scored")[["customer_id", "segment_id"]])


def train(data_path: str | Path | None = None, spec_path: str | Path | None = None,
          settings: Settings = Settings(), progress: Progress | None = None, make_current: bool = True,
          sheet: str | None = None) -> store.Run:
    """Train a run on a table and (by default) make it current.

    One training at a time per runs folder (:func:`core.runs.lock.training_lock`); after a
    successful training, runs beyond ``settings.keep_runs`` are deleted
    (:func:`core.runs.champions.prune_runs`: never the current run or an earlier champion).
    This makes the new run current whatever the current run is; the monthly flow with a
    human gate is :func:`core.pipeline.champion.train_or_retrain`.

    Parameters
    ----------
    data_path : CSV or Parquet; None: the default ShopSphere table (generated if absent).
    spec_path : TOML spec; None: the built-in ShopSphere spec.
    settings : the one settings object.
    progress : callback ``(fraction, message)``.
    make_current : False trains a challenger: saved, but the current run stays.
    sheet : for an Excel workbook, the sheet to read (default the first).

    Returns
    -------
    The saved run.

    Raises
    ------
    DataError
        Bad spec, file or table, or another training running in the same folder (nothing
        is written; the current run is unchanged).
    """
    with lock.training_lock(settings.artifacts_dir):
        run = _train(data_path, spec_path, settings, progress or _log_progress, make_current, sheet)
        champions.prune_runs(settings.artifacts_dir, settings.keep_runs)
    return run


def _log_progress(fraction: float, message: str) -> None:
    log.info("%3.0f%% %s", 100 * fraction, message)


def train_log(log_path: str | Path, spec_path: str | Path, settings: Settings = Settings(),
              progress: Progress | None = None, make_current: bool = True) -> store.Run:
    """Train a run on a transaction log described by a log spec (:mod:`core.inputs.log`), as
    :func:`train` does on a table: the snapshot table built from the log is split out of
    time (train on the earlier snapshots, validate on the one before the test snapshot,
    test on the latest), and BG/NBD is a row of the comparison table.

    Raises DataError as :func:`train` and :func:`load_log` do."""

    log_spec = load_log_spec(spec_path)
    progress = progress or _log_progress
    with lock.training_lock(settings.artifacts_dir):
        t0 = time.perf_counter()
        table, spec = load_log(log_path, log_spec, progress)
        run = _run_steps(table, spec, settings, progress, make_current, {"load_validate": round(time.perf_counter() - t0, 3)})
        champions.prune_runs(settings.artifacts_dir, settings.keep_runs)
    return run


def _train(data_path, spec_path, settings: Settings, progress: Progress, make_current: bool,
           sheet: str | None = None) -> store.Run:
    timings: dict[str, float] = {}
    spec = resolve_spec(spec_path)
    if data_path is None:
        t0 = time.perf_counter()
        data_path = shopsphere.ensure_default_data(settings, progress)
        timings["generate"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    table = load_table(data_path, spec, progress, sheet)
    timings["load_validate"] = round(time.perf_counter() - t0, 3)
    return _run_steps(table, spec, settings, progress, make_current, timings)


def _run_steps(table: LoadedTable, spec: DatasetSpec, settings: Settings, progress: Progress, make_current: bool,
               timings: dict) -> store.Run:
    """Steps 2-10 on a loaded table, then :func:`core.runs.store.save_run`."""
    def timed(name, fn, *args):
        t0 = time.perf_counter()
        out = fn(*args)
        timings[name] = round(time.perf_counter() - t0, 3)
        return out

    split = timed("split_guard", split_and_guard, table, spec, settings)
    categories = learn_categories(table.clean, spec)
    if table.origin and table.origin.get("candidate_features"):
        spec = timed("judge_candidates", judge_candidates, table, spec, split, categories, settings, progress)
    previous = previous_segmentation(settings.artifacts_dir, spec.name)

    def segment(beside=None):
        s = fit_segments(table.clean, spec, categories, settings, progress, beside)
        s = link_segments(s, previous, table.clean, spec, settings, progress)
        return describe_segments(s, table.clean, spec, settings)

    if settings.n_jobs > 1:
        segments, models = _segment_beside_propensity(segment, table.clean, spec, split, categories, settings,
                                                      progress, timings)
    else:
        segments = timed("segmentation", segment)
        models = fit_propensity_pinned(table.clean, spec, split, categories, settings, progress, timings)
    metrics = timed("evaluate", evaluate_propensity, models, table.clean, spec, split, settings, progress)
    explanation = timed("explain", explain_model, models, table.clean, spec, settings, progress)
    scored = timed("score", score_table, models, segments, explanation, table, spec, split, settings, progress)
    art = assemble(table, spec, categories, settings, segments, models, metrics, explanation, scored, timings)
    progress(0.92, "saving the run")
    run = store.save_run(settings.artifacts_dir, art, make_current=make_current)
    progress(1.0, f"run {run.run_id} saved" + (" and made current" if make_current else " (not made current)"))
    return run
