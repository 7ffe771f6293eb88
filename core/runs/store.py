"""Versioned runs on disk: the one writer of a run (:func:`save_run`), reading a run
(:class:`Run`, :func:`load_run`), the current run, the run history (layout: :mod:`core.runs`)."""
from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import xgboost as xgb

from core.activation.exports import neutralise
from core.errors import DataError, first_line
from core.inputs.spec import DatasetSpec
from core.runs import results as R
from core.runs import safeformat
from core.runs.current import (  # noqa: F401  (re-exported: store is where callers look for them)
    CHAMPION_LOG,
    CURRENT_MAP,
    RUN_ID,
    current_run_id,
    current_runs,
    dataset_of,
    default_dataset,
    list_runs,
    runs_dir,
    set_current,
)
from core.runs.names import display_names


def write_json(path: Path, obj) -> None:
    """Write ``obj`` as indented JSON (numpy scalars and arrays converted; see
    :class:`core.runs.results.JSONEncoder`)."""
    path.write_text(json.dumps(obj, cls=R.JSONEncoder, indent=2, allow_nan=False, default=None), encoding="utf-8")


def begin_run(artifacts: Path, run_id: str) -> Path:
    """Create and return the temporary directory a new run is written into."""
    tmp = runs_dir(artifacts) / f".tmp-{run_id}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


def commit_run(artifacts: Path, tmp: Path, run_id: str, make_current: bool = True) -> Path:
    """Rename a fully written temporary run into place, then make it its data set's current
    run (:func:`set_current`: the default one only when it is of the default data set, or the
    first run)."""
    final = runs_dir(artifacts) / run_id
    if final.exists():  # runs are immutable: never replace one
        raise FileExistsError(f"run {run_id} already exists")
    os.rename(tmp, final)
    if make_current:
        set_current(artifacts, run_id, "train")
    return final


def run_history(artifacts: Path) -> pd.DataFrame:
    """One row per complete run, newest first: ``current`` (bool: the current run of its data
    set, :func:`current_runs`), ``run_id``, ``created_at``,
    ``dataset``, ``rows``, ``segments``, ``method``, ``roc_auc`` and ``pr_auc`` (XGBoost,
    test rows), ``grade``, ``stability`` (bootstrap ARI); a run whose files cannot be read
    shows blanks rather than failing the list."""
    cur = set(current_runs(artifacts).values()) | {current_run_id(artifacts)}
    rows = []
    for rid in reversed(list_runs(artifacts)):
        run = Run(runs_dir(artifacts) / rid)
        row = {"current": rid in cur, "run_id": rid}
        try:
            _check_format(run.path)
            man, met = run.manifest(), run.metrics()
            row.update(created_at=man.created_at, dataset=man.dataset, rows=man.rows, segments=man.n_segments,
                       method=man.segmentation_method, roc_auc=met.xgboost.roc_auc, pr_auc=met.xgboost.pr_auc,
                       grade=met.grade.grade, stability=met.segmentation.bootstrap_ari)
        except (OSError, ValueError):  # DataError too: another format, a damaged file
            pass
        rows.append(row)
    cols = ["current", "run_id", "created_at", "dataset", "rows", "segments", "method", "roc_auc", "pr_auc",
            "grade", "stability"]
    return pd.DataFrame(rows).reindex(columns=cols).astype({"rows": "Int64", "segments": "Int64"})


#: Files every run this product writes has; a folder without them is not a run to promote or score with.
RUN_FILES = ("manifest.json", "scoring.json", "metrics.json", "profiles.json", "xgboost.json", "segmenter.json",
             "segmenter_preprocessor.skops", "segmenter_reference.npz", "scored.parquet", "matrix.parquet")


def check_complete(run: "Run") -> None:
    """Raise DataError naming the first of :data:`RUN_FILES` the run lacks, a damaged
    manifest or another run format (:func:`_check_format`), or a model part that is not
    what this product writes (:func:`core.runs.safeformat.check_model_parts`: a pickle in place
    of a skops file, say), or a table or JSON file of :data:`RUN_FILES` that cannot be read
    (its Parquet footer and JSON parsed)."""
    missing = [f for f in RUN_FILES if not (run.path / f).is_file()]
    if missing:
        raise DataError(f"run {run.run_id} is incomplete: {missing[0]} is missing from {run.path}")
    _check_format(run.path)
    safeformat.check_model_parts(run.path)
    for name in RUN_FILES:  # the tables and JSON files a run is used through: readable, or refused now
        p = run.path / name
        try:
            if name.endswith(".parquet"):
                pq.read_metadata(p)
            elif name.endswith(".json"):
                json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise DataError(f"run {run.run_id}: {name} cannot be read ({first_line(exc, 100)}): refused; retrain") from None


def abort_run(tmp: Path) -> None:
    """Delete a partly written run (after a failure)."""
    shutil.rmtree(tmp, ignore_errors=True)


@dataclass
class Run:
    """A saved run, loaded for scoring or display.

    Every accessor reads its file when called, as a typed result of :mod:`core.runs.results`
    (a file that does not hold one raises DataError naming it), so the app can read tables
    without loading models; the app caches what it reads per run id.
    """

    path: Path

    @property
    def run_id(self) -> str:
        """The run's id: ``YYYYMMDD-HHMMSS-<first 6 hex of the data hash>`` (UTC)."""
        return self.path.name

    @property
    def artifacts(self) -> Path:
        """The runs folder the run belongs to."""
        return self.path.parents[1]

    def manifest(self) -> R.Manifest:
        """Run id, creation time, data set, data path and hash, rows, seed, settings, spec,
        library versions, timings (seconds), number of segments and segmentation method."""
        return R.Manifest.from_json(self.path / "manifest.json")

    def spec(self):
        """The run's :class:`~core.inputs.spec.DatasetSpec`, from its manifest (the one copy)."""

        return DatasetSpec.from_dict(self.manifest().spec)

    def metrics(self) -> R.RunMetrics:
        """Test metrics, tables, curves and the segmentation info (``metrics.json``)."""
        return R.RunMetrics.from_json(self.path / "metrics.json")

    def profiles(self) -> list[R.SegmentProfile]:
        """Segment profiles in increasing segment id (see :func:`core.models.segmentation.profiling.profile_segments`)."""
        return R.Profiles.from_json(self.path / "profiles.json").segments

    def quality(self) -> R.Quality:
        """Data-quality summary of the training table (see :func:`core.inputs.validation.validate`)."""
        return R.Quality.from_json(self.path / "quality.json")

    def scoring(self) -> R.ScoringInfo:
        """What scoring needs besides the models (``scoring.json``)."""
        return R.ScoringInfo.from_json(self.path / "scoring.json")

    def continuity(self) -> R.Continuity:
        """Matching to the previous run (see :mod:`core.models.segmentation.continuity`)."""
        return R.Continuity.from_json(self.path / "continuity.json")

    def has_table(self, name: str) -> bool:
        """True when the run has the table ``name``."""
        return (self.path / f"{name}.parquet").is_file() or (self.path / f"{name}.csv").is_file()

    def table(self, name: str) -> pd.DataFrame:
        """A table of the run by stem: ``scored``, ``features``, ``matrix``, ``projection``,
        ``shap_points`` (Parquet) or ``importance`` (CSV). Raises DataError naming the run
        and the file when it cannot be read (missing, damaged)."""
        p = self.path / f"{name}.parquet"
        try:
            return pd.read_parquet(p) if p.exists() else pd.read_csv(self.path / f"{name}.csv")
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise DataError(f"run {self.run_id}: {p.name if p.exists() else name + '.csv'} cannot be read "
                            f"({first_line(exc, 100)}): refused; retrain") from None

    def segment_names(self) -> dict[int, str]:
        """``{segment_id: name}``: hand-set names (:func:`display_names`) over the run's
        automatic persona names."""
        auto = self.scoring().segment_names
        return {**auto, **{k: v for k, v in display_names(self.artifacts, self.manifest().dataset).items() if k in auto}}

    def booster(self) -> xgb.Booster:
        """The XGBoost model, loaded from its JSON file. Raises DataError when the file is
        not an XGBoost model in JSON (:func:`core.runs.safeformat.check_xgboost_json`)."""
        what = f"run {self.run_id}: xgboost.json"
        safeformat.check_xgboost_json(self.path / "xgboost.json", what)
        b = xgb.Booster()
        try:
            b.load_model(str(self.path / "xgboost.json"))
        except xgb.core.XGBoostError:
            raise DataError(f"{what} is not a model XGBoost can read: refused; retrain") from None
        return b

    def segmenter(self):
        """The fitted :class:`~core.models.segmentation.Segmenter` as saved
        (:meth:`~core.models.segmentation.Segmenter.from_saved`: ``segmenter.json``, its skops
        preprocessing and its voters' arrays; nothing in them runs code). Raises DataError
        for a part that is not what this product writes."""
        # imported here, for start-up speed: the segmentation loads UMAP and numba, which the
        # app and the CLI need only when a run assigns segments
        from core.models.segmentation import Segmenter

        what = f"run {self.run_id}: "
        params = R.SegmenterState.from_json(self.path / "segmenter.json")
        pre = safeformat.load_pipeline(self.path / "segmenter_preprocessor.skops",
                                       what + "segmenter_preprocessor.skops")
        arrays = safeformat.load_arrays(self.path / "segmenter_reference.npz", what + "segmenter_reference.npz")
        return Segmenter.from_saved(params, arrays, pre)

    def baseline(self):
        """The logistic-regression pipeline (``baseline.skops``, loaded with
        :func:`core.runs.safeformat.load_pipeline`). Raises DataError as :meth:`segmenter`."""
        return safeformat.load_pipeline(self.path / "baseline.skops", f"run {self.run_id}: baseline.skops")


def load_run(artifacts: Path, run_id: str | None = None) -> Run:
    """The run ``run_id``, or the current run.

    Raises
    ------
    DataError
        No run yet, no run with that id, or a run written by another version of the
        product (another :data:`core.runs.results.RUN_FORMAT`: retrain).
    """
    rid = run_id or current_run_id(artifacts)
    if rid is None:
        named = (Path(artifacts) / "CURRENT").read_text(encoding="utf-8", errors="replace").strip() \
            if (Path(artifacts) / "CURRENT").is_file() else ""
        if named and list_runs(artifacts):
            raise DataError(f"{Path(artifacts) / 'CURRENT'} names '{named[:40]}', which is not a run in "
                            f"{runs_dir(artifacts)}: promote one (python -m core runs, then python -m core promote RUN_ID)")
        raise DataError(f"no trained run in {artifacts}: run 'python -m core train' first")
    if not RUN_ID.fullmatch(rid):
        raise DataError(f"'{rid}' is not a run id (expected e.g. 20261129-073608-fa7f61; see {runs_dir(artifacts)})")
    path = runs_dir(artifacts) / rid
    if not (path / "manifest.json").is_file():
        raise DataError(f"run '{rid}' not found in {runs_dir(artifacts)}")
    _check_format(path)
    return Run(path)


def _check_format(path: Path) -> None:
    """Raise DataError unless the run folder ``path`` has its own manifest (else: damaged),
    is of :data:`core.runs.results.RUN_FORMAT` (else: written by another version) and holds no
    file a run does not hold (:func:`core.runs.safeformat.check_run_files`: a pickle, say)."""
    try:
        man = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        man = None
    if not isinstance(man, dict) or man.get("run_id") != path.name:
        raise DataError(f"run {path.name} is damaged: {path / 'manifest.json'} is not its manifest")
    fmt = man.get("run_format")
    if fmt != R.RUN_FORMAT:
        raise DataError(f"run {path.name} was written by another version of the product (run format {fmt or 1}, this "
                        f"version reads {R.RUN_FORMAT}): retrain it (python -m core train) or roll back the product")
    safeformat.check_run_files(path)


def previous_run(artifacts: Path, dataset: str) -> Run | None:
    """The run a new run of ``dataset`` continues: the current run when it is of that data
    set, else the newest run of it (ids and hand-set names are per data set, so a run of
    another table in between must not restart them); None when there is none. Runs of
    another format are skipped."""
    current = current_run_id(artifacts, dataset)
    candidates = ([current] if current else []) + [r for r in reversed(list_runs(artifacts)) if r != current]
    for rid in candidates:
        try:
            run = load_run(artifacts, rid)
            if run.manifest().dataset == dataset:
                return run
        except DataError:
            continue
    return None


#: Libraries whose versions every manifest records.
VERSIONED = ("numpy", "pandas", "scikit-learn", "xgboost", "umap-learn", "hdbscan", "shap", "pyarrow")


def library_versions() -> dict:
    """``{"python": version, package: version or None}`` for :data:`VERSIONED`."""
    out = {"python": platform.python_version()}
    for pkg in VERSIONED:
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = None
    return out


@dataclass
class RunArtifacts:
    """Everything a training produced, in memory: what :func:`save_run` writes.

    Attributes
    ----------
    booster : xgboost.Booster; baseline : the logistic pipeline; segmenter : the fitted
        Segmenter.
    scoring, metrics, quality, continuity : typed results (:mod:`core.runs.results`).
    profiles : list of :class:`core.runs.results.SegmentProfile`.
    tables : ``{stem: DataFrame}``: ``scored``, ``features``, ``matrix``, ``projection``,
        ``shap_points`` (Parquet) and ``importance`` (CSV).
    manifest : the manifest's fields except ``run_format``, ``run_id`` and
        ``created_at``, which :func:`save_run` sets; its ``timings_s`` gains ``save`` and
        ``total`` (:func:`total_seconds`).
    """

    booster: Any
    baseline: Any
    segmenter: Any
    scoring: R.ScoringInfo
    metrics: R.RunMetrics
    profiles: list[R.SegmentProfile]
    quality: R.Quality
    continuity: R.Continuity
    tables: dict[str, pd.DataFrame]
    manifest: dict


#: Tables written as CSV (small, read by people); every other table is Parquet.
CSV_TABLES = ("importance",)


def total_seconds(timings: dict[str, float]) -> float:
    """The wall time of a training from its steps' seconds: their sum, except that when the
    segmentation and the propensity fit ran side by side (``segmentation_and_propensity``,
    :func:`core.pipeline.steps._segment_beside_propensity`) that wall time counts instead of the
    two."""
    together = "segmentation_and_propensity" in timings
    skip = {"segmentation", "propensity", "total"} if together else {"total"}
    return round(sum(v for k, v in timings.items() if k not in skip), 3)


def write_run_table(folder: Path, name: str, df: pd.DataFrame) -> Path:
    """Write one table of a run into ``folder``: ``NAME.csv`` for the tables people open
    in a spreadsheet (:data:`CSV_TABLES`; cells that would run as a formula neutralised,
    :func:`core.activation.exports.neutralise`: a feature named ``=...`` in an uploaded table), Parquet
    otherwise. Returns the path."""

    if name in CSV_TABLES:
        path = Path(folder) / f"{name}.csv"
        neutralise(df).to_csv(path, index=False)
    else:
        path = Path(folder) / f"{name}.parquet"
        df.to_parquet(path, index=False)
    return path


def new_run_id(artifacts: Path, data_hash: str, created: datetime) -> str:
    """``YYYYMMDD-HHMMSS-<first 6 hex of data_hash>`` (UTC), with ``-N`` when that run
    exists already (the same data within the same second)."""
    run_id = created.strftime("%Y%m%d-%H%M%S-") + data_hash[:6]
    n = 1
    while (runs_dir(artifacts) / run_id).exists():
        n += 1
        run_id = created.strftime("%Y%m%d-%H%M%S-") + f"{data_hash[:6]}-{n}"
    return run_id


def save_run(artifacts: Path, art: RunArtifacts, make_current: bool = True) -> Run:
    """Write a run: every file into ``runs/.tmp-<id>``, then renamed into place
    (:func:`commit_run`) and, with ``make_current``, made current. The one place a run is
    written.

    Raises
    ------
    OSError
        The runs folder is not writable (the partly written run is removed; the current run
        is unchanged).
    """
    t0 = time.perf_counter()
    created = datetime.now(timezone.utc)
    run_id = new_run_id(artifacts, art.manifest["data_hash"], created)
    tmp = begin_run(artifacts, run_id)
    try:
        art.booster.save_model(str(tmp / "xgboost.json"))
        safeformat.dump_pipeline(art.baseline, tmp / "baseline.skops")
        params, arrays, pre = art.segmenter.saved_state()
        write_json(tmp / "segmenter.json", R.SegmenterState.from_dict(params, "segmenter").to_json())
        safeformat.dump_pipeline(pre, tmp / "segmenter_preprocessor.skops")
        safeformat.dump_arrays(arrays, tmp / "segmenter_reference.npz")
        write_json(tmp / "scoring.json", art.scoring.to_json())
        write_json(tmp / "metrics.json", art.metrics.to_json())
        write_json(tmp / "profiles.json", R.Profiles(segments=art.profiles).to_json())
        write_json(tmp / "quality.json", art.quality.to_json())
        write_json(tmp / "continuity.json", art.continuity.to_json())
        for name, df in art.tables.items():
            write_run_table(tmp, name, df)
        timings = dict(art.manifest["timings_s"])
        timings["save"] = round(time.perf_counter() - t0, 3)
        timings["total"] = total_seconds(timings)
        manifest = R.Manifest(run_format=R.RUN_FORMAT, run_id=run_id,
                              created_at=created.isoformat(timespec="seconds"),
                              **{**art.manifest, "timings_s": timings})
        write_json(tmp / "manifest.json", manifest.to_json())
        path = commit_run(artifacts, tmp, run_id, make_current=make_current)
    except BaseException:
        abort_run(tmp)
        raise
    return Run(path)
