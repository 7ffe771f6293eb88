"""Each data set's current run: ``CURRENT`` (the default data set's, what every page and
command shows unless told otherwise), ``current.json`` (``{dataset: run_id}`` of every data
set) and the log of their changes (``champions.jsonl``). Training or promoting a run of another
table changes that table's current run only (:func:`set_current`)."""
from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path

#: A run id: UTC time and the first 6 hex digits of the data hash, with -N when repeated.
RUN_ID = re.compile(r"\d{8}-\d{6}-[0-9a-f]{6}(-\d+)?")


def runs_dir(artifacts: Path) -> Path:
    """``artifacts/runs``."""
    return Path(artifacts) / "runs"


def dataset_of(artifacts: Path, run_id: str) -> str | None:
    """The data set (spec name) a complete run was trained on, from its manifest; None when
    the manifest cannot be read or names none."""
    try:
        man = json.loads((runs_dir(artifacts) / run_id / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return man.get("dataset") if isinstance(man, dict) and isinstance(man.get("dataset"), str) else None


def _current_map(artifacts: Path) -> dict[str, str] | None:
    """``current.json``: ``{dataset: run_id}`` of every data set's current run (entries
    naming no complete run are dropped), or None when the file is missing or damaged."""
    f = Path(artifacts) / CURRENT_MAP
    try:
        raw = json.loads(f.read_text(encoding="utf-8")) if f.is_file() else None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raw = None
    if not isinstance(raw, dict):
        return None
    return {str(d): str(r) for d, r in raw.items()
            if isinstance(r, str) and RUN_ID.fullmatch(r) and (runs_dir(artifacts) / r / "manifest.json").is_file()}


def current_run_id(artifacts: Path, dataset: str | None = None) -> str | None:
    """The current run's id, or None when no run has been made.

    Without ``dataset``: the default data set's current run (``CURRENT``), what the command
    line and the pages use unless told otherwise. With it: that data set's current run
    (``CURRENT`` when it is of that data set, else ``current.json``; for a runs folder written
    before ``current.json`` existed, else the newest run of that data set), or None."""
    f = Path(artifacts) / "CURRENT"
    default = None
    if f.is_file():
        rid = f.read_text(encoding="utf-8").strip()
        default = rid if rid and (runs_dir(artifacts) / rid / "manifest.json").is_file() else None
    if dataset is None:
        return default
    if default and dataset_of(artifacts, default) == dataset:  # CURRENT rules for its own data set
        return default
    mapping = _current_map(artifacts)
    if mapping and mapping.get(dataset):
        return mapping[dataset]
    if mapping is not None:
        return None
    return next((r for r in reversed(list_runs(artifacts)) if dataset_of(artifacts, r) == dataset), None)


def default_dataset(artifacts: Path) -> str | None:
    """The data set of the default current run (``CURRENT``), or None without one."""
    rid = current_run_id(artifacts)
    return dataset_of(artifacts, rid) if rid else None


def current_runs(artifacts: Path) -> dict[str, str]:
    """``{dataset: current run id}`` of every data set with a run, the default data set first."""
    default = default_dataset(artifacts)
    names = ([default] if default else []) + sorted(
        {d for d in (dataset_of(artifacts, r) for r in list_runs(artifacts)) if d and d != default})
    return {d: rid for d in names if (rid := current_run_id(artifacts, d))}


def list_runs(artifacts: Path) -> list[str]:
    """Ids of all complete runs, oldest first."""
    d = runs_dir(artifacts)
    if not d.is_dir():
        return []
    return sorted(p.name for p in d.iterdir() if not p.name.startswith(".") and (p / "manifest.json").is_file())


#: Append-only log of every change of a current run (train, promote, rollback).
CHAMPION_LOG = "champions.jsonl"
#: Every data set's current run: ``{dataset: run_id}`` (JSON). ``CURRENT`` names the default one.
CURRENT_MAP = "current.json"


def set_current(artifacts: Path, run_id: str, action: str, make_default: bool = False) -> bool:
    """Make ``run_id`` its data set's current run (``current.json``) and log the change
    (``champions.jsonl``: time, action, run id, data set, the data set's previous current run).

    ``CURRENT``, the default data set's current run that every page and command shows unless
    told otherwise, moves too when ``make_default`` is set, when there is none yet, or when the
    run is of the default data set: training or promoting a run of another table never changes
    what the other users see. Both files are replaced atomically (``os.replace``). Returns
    whether ``CURRENT`` moved."""
    dataset = dataset_of(artifacts, run_id)
    previous = current_run_id(artifacts, dataset) if dataset else current_run_id(artifacts)
    default = default_dataset(artifacts)
    if dataset:
        mapping = _current_map(artifacts) or {d: r for d, r in current_runs(artifacts).items()}
        mapping[dataset] = run_id
        _replace(Path(artifacts) / CURRENT_MAP, json.dumps(mapping, indent=2, sort_keys=True) + "\n")
    moves = make_default or default is None or dataset is None or dataset == default
    if moves:
        _replace(Path(artifacts) / "CURRENT", run_id + "\n")
    entry = {"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "action": action,
             "run_id": run_id, "dataset": dataset, "previous": previous, "default": moves}
    with open(Path(artifacts) / CHAMPION_LOG, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")
    return moves


def _replace(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


