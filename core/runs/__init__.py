"""Versioned runs on disk.

Layout under ``artifacts_dir``::

    runs/<run_id>/          one directory per run, written once, never modified
        manifest.json       run id, time, data set, data hash, spec, settings, versions, timings
        scoring.json        feature names, training categories, decile cut points, segment names
        xgboost.json        XGBoost model (its own JSON format, ``Booster.save_model``)
        baseline.skops      logistic-regression pipeline (scikit-learn, as a skops file)
        segmenter.json      the fitted segmenter's parameters (:class:`core.runs.results.SegmenterState`)
        segmenter_preprocessor.skops   its scaling pipeline (skops)
        segmenter_reference.npz        its assignment's voters (NumPy arrays, no pickles)
        (every JSON file holds one typed result of :mod:`core.runs.results`)
        metrics.json        test metrics, decile tables, curves, segmentation info
        profiles.json       segment profiles and persona names
        importance.csv      mean |SHAP| per feature
        scored.parquet      the scored training table
        features.parquet    its input features after validation (same rows and order), for
                            cohort filters and colouring the projection
        matrix.parquet      propensity-by-segment matrix
        projection.parquet  2-D UMAP sample for display
        quality.json        data-quality summary
        continuity.json     matching of the segments to the previous run's, transitions
    CURRENT                 text file holding the current run id
    .training.lock          held (an OS file lock) while a run is being trained
    champions.jsonl         append-only log of every change of the current run (train,
                            promote, rollback), read by :func:`champion_history`
    monitoring/<run_id>/    drift and backtest reports on that run (JSON, one per check)
    display_names.json      segment names set by hand, per data set and segment id; they
                            win over the automatic names and carry across retrains (ids do)
    uploads/                tables uploaded in the app, mapped and validated, as Parquet

Every run is written by :func:`save_run` alone (the training steps touch no disk); its
manifest carries :data:`core.runs.results.RUN_FORMAT`, and a run of another format is refused
in one line that says how to retrain.

A run is written into ``runs/.tmp-<run_id>`` and renamed into place only when every
file is written (``os.rename`` is atomic on one filesystem); ``CURRENT`` is then replaced
atomically (``os.replace``). A failed training leaves the current run untouched.

A run holds no pickle: every part loads without executing code (:mod:`core.runs.safeformat`),
and a run folder holding any file a run does not hold (a ``.joblib``, say) is refused
before anything in it is read (:func:`load_run`).
"""
from __future__ import annotations

import importlib.metadata
import json
import math
import os
import platform
import re
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import xgboost as xgb

from core.runs import results as R
from core.runs import safeformat
from core.errors import DataError, first_line


def write_json(path: Path, obj) -> None:
    """Write ``obj`` as indented JSON (numpy scalars and arrays converted; see
    :class:`core.runs.results.JSONEncoder`)."""
    path.write_text(json.dumps(obj, cls=R.JSONEncoder, indent=2, allow_nan=False, default=None), encoding="utf-8")


#: A run id: UTC time and the first 6 hex digits of the data hash, with -N when repeated.
RUN_ID = re.compile(r"\d{8}-\d{6}-[0-9a-f]{6}(-\d+)?")


TRAINING_LOCK = ".training.lock"
#: Who holds the training lock and since when (JSON beside the lock, written once it is held).
LOCK_HOLDER = ".training.lock.json"


def training_lock(artifacts: Path):
    """A lock held while a run is trained into ``artifacts`` (``filelock.FileLock``: an OS
    file lock, released by the OS if the process dies, so a killed training never leaves a
    stale lock). Use as a context manager; raises DataError at once when another training
    holds it, naming who (:func:`training_lock_holder`). While held, ``.training.lock.json``
    says which process holds it (id, command, host) and since when."""
    from contextlib import contextmanager

    import filelock

    @contextmanager
    def _held():
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(Path(artifacts) / TRAINING_LOCK))
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            holder = training_lock_holder(artifacts, locked=True)
            raise DataError(f"another training is running in {artifacts}"
                            + (f" ({holder})" if holder else "") + ": wait for it to finish "
                            "(the current run is unchanged)") from None
        info = Path(artifacts) / LOCK_HOLDER
        try:
            info.write_text(json.dumps({"pid": os.getpid(), "command": _command_line(), "host": platform.node(),
                                        "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}),
                            encoding="utf-8")
            yield
        finally:
            info.unlink(missing_ok=True)
            lock.release()

    return _held()


def _command_line() -> str:
    """This process's command line, shortened (``python -m core train --data T``)."""
    import sys

    args = [Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"] + sys.argv[1:]
    if args[0] == "__main__.py":
        args[0] = "python -m core"
    return " ".join(args)[:160]


def training_lock_holder(artifacts: Path, locked: bool | None = None) -> str | None:
    """Who holds the runs folder's training lock, in one phrase ("pid 1234 on host h,
    python -m core train, since 2026-12-06T10:02:11+00:00"), or None when no training holds
    it. ``locked`` True skips checking the lock (the caller just failed to take it)."""
    import filelock

    artifacts = Path(artifacts)
    if locked is None:
        if not (artifacts / TRAINING_LOCK).exists():
            return None
        probe = filelock.FileLock(str(artifacts / TRAINING_LOCK))
        try:
            probe.acquire(timeout=0)
        except filelock.Timeout:
            locked = True
        else:
            probe.release()
            return None
    try:
        h = json.loads((artifacts / LOCK_HOLDER).read_text(encoding="utf-8"))
        return f"pid {h['pid']} on host {h['host']}, {h['command']}, since {h['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not said who it is yet"


def prune_runs(artifacts: Path, keep: int) -> list[str]:
    """Delete all but the newest ``keep`` complete runs, never the current run or an earlier
    champion a rollback can return to, and leftover ``.tmp-*`` folders of dead trainings
    (call under :func:`training_lock`). ``keep`` 0 deletes nothing. Returns the deleted ids."""
    d = runs_dir(artifacts)
    for tmp in d.glob(".tmp-*") if d.is_dir() else []:
        shutil.rmtree(tmp, ignore_errors=True)
    if keep <= 0:
        return []
    protected = set(champion_stack(artifacts))
    runs = list_runs(artifacts)
    doomed = [r for r in runs[:-keep] if r not in protected]
    for rid in doomed:
        shutil.rmtree(d / rid, ignore_errors=True)
    return doomed


def runs_dir(artifacts: Path) -> Path:
    """``artifacts/runs``."""
    return Path(artifacts) / "runs"


def current_run_id(artifacts: Path) -> str | None:
    """The current run's id, or None when no run has been made."""
    f = Path(artifacts) / "CURRENT"
    if not f.is_file():
        return None
    rid = f.read_text(encoding="utf-8").strip()
    return rid if rid and (runs_dir(artifacts) / rid / "manifest.json").is_file() else None


def list_runs(artifacts: Path) -> list[str]:
    """Ids of all complete runs, oldest first."""
    d = runs_dir(artifacts)
    if not d.is_dir():
        return []
    return sorted(p.name for p in d.iterdir() if not p.name.startswith(".") and (p / "manifest.json").is_file())


def begin_run(artifacts: Path, run_id: str) -> Path:
    """Create and return the temporary directory a new run is written into."""
    tmp = runs_dir(artifacts) / f".tmp-{run_id}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


def commit_run(artifacts: Path, tmp: Path, run_id: str, make_current: bool = True) -> Path:
    """Rename a fully written temporary run into place, then point ``CURRENT`` at it."""
    final = runs_dir(artifacts) / run_id
    if final.exists():  # runs are immutable: never replace one
        raise FileExistsError(f"run {run_id} already exists")
    os.rename(tmp, final)
    if make_current:
        _set_current(artifacts, run_id, "train")
    return final


CHAMPION_LOG = "champions.jsonl"


def _set_current(artifacts: Path, run_id: str, action: str) -> None:
    """Point ``CURRENT`` at ``run_id`` atomically and log the change."""
    from datetime import datetime, timezone

    previous = current_run_id(artifacts)
    tmp_cur = Path(artifacts) / f".CURRENT.{os.getpid()}"
    tmp_cur.write_text(run_id + "\n", encoding="utf-8")
    os.replace(tmp_cur, Path(artifacts) / "CURRENT")
    entry = {"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "action": action,
             "run_id": run_id, "previous": previous}
    with open(Path(artifacts) / CHAMPION_LOG, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")


def champion_history(artifacts: Path) -> list[dict]:
    """Every change of the current run, oldest first: ``{"at", "action" (train, promote or
    rollback), "run_id", "previous"}`` (unreadable lines are skipped)."""
    f = Path(artifacts) / CHAMPION_LOG
    out = []
    if f.is_file():
        for line in f.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(entry, dict) and "run_id" in entry:
                out.append(entry)
    return out


def champion_stack(artifacts: Path) -> list[str]:
    """The champions in the order they took over, rolled-back ones removed; the last is
    current, the one before it is where :func:`rollback` returns."""
    stack: list[str] = []
    for e in champion_history(artifacts):
        if e.get("action") == "rollback":
            while stack and stack[-1] != e["run_id"]:
                stack.pop()
        else:
            if e["run_id"] in stack:
                stack.remove(e["run_id"])
            stack.append(e["run_id"])
    cur = current_run_id(artifacts)
    stack = [r for r in stack if (runs_dir(artifacts) / r / "manifest.json").is_file()]
    if cur and (not stack or stack[-1] != cur):  # CURRENT set before the log existed
        stack = [r for r in stack if r != cur] + [cur]
    return stack


def save_monitoring(artifacts: Path, run_id: str, kind: str, report: dict) -> Path:
    """Write a monitoring report (``kind``: ``drift`` or ``backtest``) beside the runs, at
    ``artifacts/monitoring/<run_id>/<kind>-<UTC time>.json`` (runs themselves stay
    immutable), atomically; returns its path."""
    from datetime import datetime, timezone

    folder = Path(artifacts) / "monitoring" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{kind}-{datetime.now(timezone.utc).strftime('%Y%m%d-%H%M%S')}.json"
    n = 1
    while path.exists():
        n += 1
        path = folder / f"{kind}-{datetime.now(timezone.utc).strftime('%Y%m%d-%H%M%S')}-{n}.json"
    tmp = path.with_name(f".{path.name}.tmp")
    write_json(tmp, report)
    os.replace(tmp, path)
    return path


def monitoring_reports(artifacts: Path, run_id: str, kind: str) -> list[Path]:
    """The run's saved monitoring reports of ``kind``, newest first."""
    folder = Path(artifacts) / "monitoring" / run_id
    return sorted(folder.glob(f"{kind}-*.json"), reverse=True) if folder.is_dir() else []


def run_history(artifacts: Path) -> pd.DataFrame:
    """One row per complete run, newest first: ``current`` (bool), ``run_id``, ``created_at``,
    ``dataset``, ``rows``, ``segments``, ``method``, ``roc_auc`` and ``pr_auc`` (XGBoost,
    test rows), ``grade``, ``stability`` (bootstrap ARI); a run whose files cannot be read
    shows blanks rather than failing the list."""
    cur = current_run_id(artifacts)
    rows = []
    for rid in reversed(list_runs(artifacts)):
        run = Run(runs_dir(artifacts) / rid)
        row = {"current": rid == cur, "run_id": rid}
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


def promote(artifacts: Path, run_id: str) -> str:
    """Make the complete run ``run_id`` current (the champion); returns the previous one (or None).

    Raises
    ------
    DataError
        Not a run id, no such run (see :func:`load_run`), an incomplete or damaged run
        (:func:`check_complete`), or it already is current.
    """
    if not run_id or not RUN_ID.fullmatch(str(run_id)):
        raise DataError(f"'{run_id}' is not a run id (expected e.g. 20261129-073608-fa7f61; see {runs_dir(artifacts)})")
    run = load_run(artifacts, run_id)
    check_complete(run)
    if current_run_id(artifacts) == run.run_id:
        raise DataError(f"run {run.run_id} is already the current run")
    previous = current_run_id(artifacts)
    _set_current(artifacts, run.run_id, "promote")
    return previous


def rollback(artifacts: Path) -> str:
    """Return to the champion before the current one; returns the run id now current.

    Repeated rollbacks walk further back through the champions (a rolled-back run is
    skipped; promote it to bring it back).

    Raises
    ------
    DataError
        There is no earlier champion to return to.
    """
    stack = champion_stack(artifacts)
    if len(stack) < 2:
        raise DataError(f"no earlier champion to roll back to in {artifacts} "
                        "(promote a run by id instead: python -m core promote RUN_ID)")
    _set_current(artifacts, stack[-2], "rollback")
    return stack[-2]


def abort_run(tmp: Path) -> None:
    """Delete a partly written run (after a failure)."""
    shutil.rmtree(tmp, ignore_errors=True)


#: Longest segment name a person may set.
MAX_NAME_LENGTH = 60


def display_names(artifacts: Path, dataset: str) -> dict[int, str]:
    """Segment names set by hand for ``dataset``: ``{segment_id: name}`` (empty when none).

    Raises
    ------
    DataError
        The file is not valid JSON or not ``{data set: {segment id: name}}``.
    """
    f = Path(artifacts) / "display_names.json"
    if not f.is_file():
        return {}
    bad = f"{f}: not valid segment names (expected {{data set: {{segment id: name}}}}); fix or delete it " \
          "to use the automatic names"
    try:
        raw = json.loads(f.read_text(encoding="utf-8"))
        names = raw.get(dataset, {}) if isinstance(raw, dict) else None
        if not isinstance(names, dict) or not all(isinstance(v, str) and v.strip() for v in names.values()):
            raise DataError(bad)
        return {int(k): v.strip() for k, v in names.items()}
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        raise DataError(bad) from None


def set_display_name(artifacts: Path, dataset: str, segment_id: int, name: str | None,
                     taken: dict[int, str] | None = None, auto_name: str | None = None) -> None:
    """Set (or with an empty ``name``, clear) the hand-set name of a segment.

    Written atomically (temporary file, then ``os.replace``); runs are not touched.

    Parameters
    ----------
    taken : ``{segment_id: name}`` of the other segments shown beside it; a name already
        used by another segment is refused.
    auto_name : the segment's automatic name, shown again when the hand-set one is cleared
        (so clearing is refused when another segment now shows that name).

    Raises
    ------
    DataError
        The name is longer than :data:`MAX_NAME_LENGTH` characters, or another segment has it.
    """
    name = (name or "").strip()
    if len(name) > MAX_NAME_LENGTH:
        raise DataError(f"segment name: at most {MAX_NAME_LENGTH} characters, got {len(name)}")
    shown = name or (auto_name or "")  # clearing brings the automatic name back: it must be free too
    for other, other_name in (taken or {}).items():
        if other != segment_id and shown and other_name.strip().lower() == shown.lower():
            raise DataError(f"segment name '{shown}' is already used by segment {other}"
                            + ("" if name else " (it is this segment's automatic name: rename that one first)"))
    display_names(artifacts, dataset)  # refuses a damaged file rather than overwrite it
    f = Path(artifacts) / "display_names.json"
    raw = json.loads(f.read_text(encoding="utf-8")) if f.is_file() else {}
    names = raw.setdefault(dataset, {})
    if name:
        names[str(int(segment_id))] = name
    else:
        names.pop(str(int(segment_id)), None)
    Path(artifacts).mkdir(parents=True, exist_ok=True)
    tmp = f.with_name(f".display_names.{os.getpid()}")
    tmp.write_text(json.dumps(raw, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, f)


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
        from core.inputs.spec import DatasetSpec

        return DatasetSpec.from_dict(self.manifest().spec)

    def metrics(self) -> R.RunMetrics:
        """Test metrics, tables, curves and the segmentation info (``metrics.json``)."""
        return R.RunMetrics.from_json(self.path / "metrics.json")

    def profiles(self) -> list[R.SegmentProfile]:
        """Segment profiles in increasing segment id (see :func:`core.models.segmentation.profiling.profile_segments`)."""
        return R.Profiles.from_json(self.path / "profiles.json").segments

    def quality(self) -> R.Quality:
        """Data-quality summary of the training table (see :func:`core.inputs.tables.validate`)."""
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
    current = current_run_id(artifacts)
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


#: What two trainings of the same data, seed and library versions may differ in: run ids,
def total_seconds(timings: dict[str, float]) -> float:
    """The wall time of a training from its steps' seconds: their sum, except that when the
    segmentation and the propensity fit ran side by side (``segmentation_and_propensity``,
    :func:`core.pipeline.training._segment_beside_propensity`) that wall time counts instead of the
    two."""
    together = "segmentation_and_propensity" in timings
    skip = {"segmentation", "propensity", "total"} if together else {"total"}
    return round(sum(v for k, v in timings.items() if k not in skip), 3)


#: creation times, paths, timings (``timings_s``, ``tuning_seconds``, a trial's
#: ``seconds``), the run format and, in ``continuity.json``, the previous run's id.
RUN_VARIABLE_KEYS = frozenset({"tuning_seconds", "seconds", "timings_s", "created_at", "run_id", "run_format",
                               "data_path", "artifacts_dir", "previous_run"})


def _strip(o):
    if isinstance(o, dict):
        return {k: _strip(v) for k, v in o.items() if k not in RUN_VARIABLE_KEYS}
    if isinstance(o, list):
        return [_strip(v) for v in o]
    return o


def _diff(x, y, path: str, rel_tol: float = 0.0) -> list[str]:
    if isinstance(x, dict) and isinstance(y, dict):
        out = []
        for k in sorted(set(x) | set(y), key=str):
            if k not in x or k not in y:
                out.append(f"{path}.{k}: only in {'B' if k not in x else 'A'}")
            else:
                out += _diff(x[k], y[k], f"{path}.{k}", rel_tol)
        return out
    if isinstance(x, list) and isinstance(y, list):
        if len(x) != len(y):
            return [f"{path}: {len(x)} items in A, {len(y)} in B"]
        return [d for i, (u, v) in enumerate(zip(x, y)) for d in _diff(u, v, f"{path}[{i}]", rel_tol)]
    if rel_tol and isinstance(x, float) and isinstance(y, float) and math.isclose(x, y, rel_tol=rel_tol):
        return []
    return [] if x == y else [f"{path}: {str(x)[:70]} != {str(y)[:70]}"]


def _same_table(x: pd.DataFrame, y: pd.DataFrame, rel_tol: float) -> bool:
    """Identical tables, or with ``rel_tol`` > 0 float columns within that relative tolerance."""
    if not rel_tol:
        return x.equals(y)
    try:
        pd.testing.assert_frame_equal(x, y, check_exact=False, rtol=rel_tol, atol=0.0)
    except AssertionError:
        return False
    return True


def _same_content(x, y) -> bool:
    """Equal content, object identity aside: dicts, lists, arrays (NaN equal to NaN),
    tables, and objects by their attributes."""
    if type(x) is not type(y):
        return False
    if isinstance(x, dict):
        return x.keys() == y.keys() and all(_same_content(x[k], y[k]) for k in x)
    if isinstance(x, (list, tuple)):
        return len(x) == len(y) and all(_same_content(u, v) for u, v in zip(x, y))
    if isinstance(x, np.ndarray):
        return x.dtype == y.dtype and x.shape == y.shape and (
            np.array_equal(x, y, equal_nan=True) if x.dtype.kind in "fc" else
            all(_same_content(u, v) for u, v in zip(x.ravel(), y.ravel())) if x.dtype == object else
            np.array_equal(x, y))
    if isinstance(x, (pd.DataFrame, pd.Series)):
        return x.equals(y) and list(getattr(x, "columns", [])) == list(getattr(y, "columns", []))
    if isinstance(x, float) and np.isnan(x):
        return np.isnan(y)
    if hasattr(x, "__dict__") and not isinstance(x, type):
        return _same_content(vars(x), vars(y))
    return x == y


def run_differences(a: Path, b: Path, rel_tol: float = 0.0) -> list[str]:
    """How two run folders differ, :data:`RUN_VARIABLE_KEYS` aside: one line per JSON value
    that differs (``metrics.json.xgboost.roc_auc: 0.88 != 0.89``), per table that is not
    identical (Parquet and CSV: columns, dtypes and values), for an XGBoost model file that
    is not byte-identical, and for a model part (``.skops`` pipeline, ``.npz`` arrays) whose
    content differs: those are loaded (:mod:`core.runs.safeformat`, no code runs) and compared by
    content (:func:`_same_content`), since a zip's bytes also hold its members' times.
    Empty when the runs match. Raises FileNotFoundError when one folder lacks a file the
    other has, DataError for a part that is not what this product writes.

    ``rel_tol`` > 0 counts floats (JSON values, table cells) within that relative tolerance
    as equal: for comparing runs of two machines, whose numpy and BLAS round some sums in
    their own order (see :mod:`core.models.segmentation.neighbours`); labels, counts and strings
    must still match exactly."""
    a, b = Path(a), Path(b)
    names = sorted({p.name for p in a.iterdir()} | {p.name for p in b.iterdir()})
    out = []
    for name in names:
        x, y = a / name, b / name
        if not (x.is_file() and y.is_file()):
            raise FileNotFoundError(f"{name} is in only one of {a} and {b}")
        if name.endswith(".json") and name != "xgboost.json":
            out += _diff(_strip(json.loads(x.read_text(encoding="utf-8"))),
                         _strip(json.loads(y.read_text(encoding="utf-8"))), name, rel_tol)
        elif name.endswith((".parquet", ".csv")):
            read = pd.read_parquet if name.endswith(".parquet") else pd.read_csv
            if not _same_table(read(x), read(y), rel_tol):
                out.append(f"{name}: the tables differ")
        elif name.endswith(".skops"):
            if not _same_content(safeformat.load_pipeline(x, str(x)), safeformat.load_pipeline(y, str(y))):
                out.append(f"{name}: the fitted objects differ")
        elif name.endswith(".npz"):
            if not _same_content(safeformat.load_arrays(x, str(x)), safeformat.load_arrays(y, str(y))):
                out.append(f"{name}: the arrays differ")
        elif x.read_bytes() != y.read_bytes():
            out.append(f"{name}: the files differ")
    return out


def write_run_table(folder: Path, name: str, df: pd.DataFrame) -> Path:
    """Write one table of a run into ``folder``: ``NAME.csv`` for the tables people open
    in a spreadsheet (:data:`CSV_TABLES`; cells that would run as a formula neutralised,
    :func:`core.activation.exports.neutralise`: a feature named ``=...`` in an uploaded table), Parquet
    otherwise. Returns the path."""
    from core.activation.exports import neutralise

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


def save_upload(artifacts: Path, table: pd.DataFrame, dataset: str, content: bytes) -> Path:
    """Keep an uploaded, mapped table for training: ``uploads/<dataset>-<sha256 of the
    uploaded bytes, 12 hex>.parquet`` under the runs folder, written atomically
    (:func:`core.activation.exports.write_table`); returns the path. Raises DataError when it cannot be
    written."""
    import hashlib

    from core.activation.exports import write_table

    return write_table(table, Path(artifacts) / "uploads" / f"{dataset}-{hashlib.sha256(content).hexdigest()[:12]}.parquet")


def save_upload_bytes(artifacts: Path, name: str, content: bytes) -> Path:
    """Keep an uploaded file as sent (a transaction log): ``uploads/<stem>-<sha256 of the
    bytes, 12 hex><suffix>`` under the runs folder, written to a temporary name and moved
    into place; returns the path. Raises DataError when it cannot be written."""
    import hashlib
    import os

    src = Path(name)
    out = Path(artifacts) / "uploads" / f"{src.stem}-{hashlib.sha256(content).hexdigest()[:12]}{src.suffix.lower()}"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_bytes(content)
        os.replace(tmp, out)
    except OSError as exc:
        raise DataError(f"{out}: cannot keep the upload ({exc.strerror or exc})") from None
    return out
