"""Versioned runs on disk.

Layout under ``artifacts_dir``::

    runs/<run_id>/          one directory per run, written once, never modified
        manifest.json       run id, time, data set, data hash, spec, settings, versions, timings
        scoring.json        feature names, training categories, decile cut points, segment names
        xgboost.json        XGBoost model (its own JSON format, ``Booster.save_model``)
        baseline.joblib     logistic-regression pipeline (scikit-learn; our own object)
        segmenter.joblib    fitted preprocessor + assignment reference (our own object)
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

A run is written into ``runs/.tmp-<run_id>`` and renamed into place only when every
file is written (``os.rename`` is atomic on one filesystem); ``CURRENT`` is then replaced
atomically (``os.replace``). A failed training leaves the current run untouched. joblib
files are only ever loaded from runs this product wrote, never from user uploads.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import xgboost as xgb

from core.errors import DataError


class _JSONEncoder(json.JSONEncoder):
    def default(self, o):
        if isinstance(o, np.integer):
            return int(o)
        if isinstance(o, np.floating):
            return None if not np.isfinite(o) else float(o)
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, Path):
            return str(o)
        return super().default(o)


def write_json(path: Path, obj) -> None:
    """Write ``obj`` as indented JSON (numpy scalars and arrays converted)."""
    path.write_text(json.dumps(obj, cls=_JSONEncoder, indent=2, allow_nan=False, default=None), encoding="utf-8")


#: A run id: UTC time and the first 6 hex digits of the data hash, with -N when repeated.
RUN_ID = re.compile(r"\d{8}-\d{6}-[0-9a-f]{6}(-\d+)?")


TRAINING_LOCK = ".training.lock"


def training_lock(artifacts: Path):
    """A lock held while a run is trained into ``artifacts`` (``filelock.FileLock``: an OS
    file lock, released by the OS if the process dies, so a killed training never leaves a
    stale lock). Use as a context manager; raises DataError at once when another training
    holds it."""
    from contextlib import contextmanager

    import filelock

    @contextmanager
    def _held():
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(Path(artifacts) / TRAINING_LOCK))
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            raise DataError(f"another training is running in {artifacts}: wait for it to finish "
                            "(the current run is unchanged)") from None
        try:
            yield
        finally:
            lock.release()

    return _held()


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
            man, met = run.manifest(), run.metrics()
            row.update(created_at=man.get("created_at"), dataset=man.get("dataset"), rows=man.get("rows"),
                       segments=man.get("n_segments"), method=man.get("segmentation_method"),
                       roc_auc=met.get("xgboost", {}).get("roc_auc"), pr_auc=met.get("xgboost", {}).get("pr_auc"),
                       grade=met.get("grade", {}).get("grade"),
                       stability=met.get("segmentation", {}).get("bootstrap_ari"))
        except (OSError, ValueError):
            pass
        rows.append(row)
    cols = ["current", "run_id", "created_at", "dataset", "rows", "segments", "method", "roc_auc", "pr_auc",
            "grade", "stability"]
    return pd.DataFrame(rows).reindex(columns=cols)


#: Files every run this product writes has; a folder without them is not a run to promote or score with.
RUN_FILES = ("manifest.json", "scoring.json", "metrics.json", "profiles.json", "xgboost.json", "segmenter.joblib",
             "scored.parquet", "matrix.parquet")


def check_complete(run: "Run") -> None:
    """Raise DataError naming the first of :data:`RUN_FILES` the run lacks, or an unreadable manifest."""
    missing = [f for f in RUN_FILES if not (run.path / f).is_file()]
    if missing:
        raise DataError(f"run {run.run_id} is incomplete: {missing[0]} is missing from {run.path}")
    try:
        man = json.loads((run.path / "manifest.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        man = None
    if not isinstance(man, dict) or man.get("run_id") != run.run_id:
        raise DataError(f"run {run.run_id} is damaged: {run.path / 'manifest.json'} is not its manifest")


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

    Attributes are loaded lazily by the accessors, so the app can read tables without
    loading models.
    """

    path: Path

    @property
    def run_id(self) -> str:
        """The run's id: ``YYYYMMDD-HHMMSS-<first 6 hex of the data hash>`` (UTC)."""
        return self.path.name

    def manifest(self) -> dict:
        """Run id, creation time, data set, data path and hash, rows, seed, settings, spec,
        library versions, timings (seconds), number of segments and segmentation method."""
        return self._json("manifest.json")

    def spec(self):
        """The run's :class:`~core.schema.DatasetSpec`, from its manifest (the one copy)."""
        from core.schema import DatasetSpec

        return DatasetSpec.from_dict(self.manifest()["spec"])

    def metrics(self) -> dict:
        """Test metrics of ``xgboost``, ``logistic`` (and ``oracle``), decile table, curves,
        segmentation info."""
        return self._json("metrics.json")

    def profiles(self) -> list[dict]:
        """Segment profiles (see :func:`core.profiling.profile_segments`)."""
        return self._json("profiles.json")

    def quality(self) -> dict:
        """Data-quality summary of the training table (see :func:`core.data.validate`)."""
        return self._json("quality.json")

    def table(self, name: str) -> pd.DataFrame:
        """A Parquet or CSV table of the run by stem: ``scored``, ``matrix``, ``projection``, ``importance``."""
        p = self.path / f"{name}.parquet"
        return pd.read_parquet(p) if p.exists() else pd.read_csv(self.path / f"{name}.csv")

    def segment_names(self) -> dict[int, str]:
        """``{segment_id: name}``: hand-set names (:func:`display_names`) over the run's
        automatic persona names."""
        auto = {int(k): v for k, v in self._json("scoring.json")["segment_names"].items()}
        return {**auto, **{k: v for k, v in display_names(self.path.parents[1], self.manifest()["dataset"]).items()
                           if k in auto}}

    def continuity(self) -> dict:
        """Matching to the previous run (see :mod:`core.continuity`); ``{}`` for runs without one."""
        p = self.path / "continuity.json"
        return self._json("continuity.json") if p.is_file() else {}

    def booster(self) -> xgb.Booster:
        """The XGBoost model, loaded from its JSON file."""
        b = xgb.Booster()
        b.load_model(str(self.path / "xgboost.json"))
        return b

    def joblib(self, name: str):
        """A scikit-learn/our own object this product saved in the run (``baseline``, ``segmenter``)."""
        return joblib.load(self.path / f"{name}.joblib")

    def _json(self, name: str):
        return json.loads((self.path / name).read_text(encoding="utf-8"))


def load_run(artifacts: Path, run_id: str | None = None) -> Run:
    """The run ``run_id``, or the current run.

    Raises
    ------
    DataError
        No run yet, or no run with that id.
    """
    rid = run_id or current_run_id(artifacts)
    if rid is None:
        raise DataError(f"no trained run in {artifacts}: run 'python -m core train' first")
    if not RUN_ID.fullmatch(rid):
        raise DataError(f"'{rid}' is not a run id (expected e.g. 20261129-073608-fa7f61; see {runs_dir(artifacts)})")
    path = runs_dir(artifacts) / rid
    if not (path / "manifest.json").is_file():
        raise DataError(f"run '{rid}' not found in {runs_dir(artifacts)}")
    return Run(path)
