"""Champions: promote, roll back, the history of the current run, and pruning old runs."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from core.errors import DataError
from core.runs.store import (
    CHAMPION_LOG,
    RUN_ID,
    check_complete,
    current_run_id,
    current_runs,
    dataset_of,
    default_dataset,
    list_runs,
    load_run,
    runs_dir,
    set_current,
)


def prune_runs(artifacts: Path, keep: int) -> list[str]:
    """Delete all but the newest ``keep`` complete runs, never the current run or an earlier
    champion a rollback can return to, and leftover ``.tmp-*`` folders of dead trainings
    (call under :func:`training_lock`). ``keep`` 0 deletes nothing. Returns the deleted ids."""
    d = runs_dir(artifacts)
    for tmp in d.glob(".tmp-*") if d.is_dir() else []:
        shutil.rmtree(tmp, ignore_errors=True)
    if keep <= 0:
        return []
    protected = {r for d in current_runs(artifacts) for r in champion_stack(artifacts, d)}
    protected |= set(champion_stack(artifacts))
    runs = list_runs(artifacts)
    doomed = [r for r in runs[:-keep] if r not in protected]
    for rid in doomed:
        shutil.rmtree(d / rid, ignore_errors=True)
    return doomed


def champion_history(artifacts: Path) -> list[dict]:
    """Every change of a current run, oldest first: ``{"at", "action" (train, promote or
    rollback), "run_id", "dataset", "previous", "default"}`` (``dataset`` and ``default`` are
    missing on lines written before data sets had their own current run; unreadable lines
    are skipped)."""
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


def champion_stack(artifacts: Path, dataset: str | None = None) -> list[str]:
    """The champions of ``dataset`` (default: the default data set's) in the order they took
    over, rolled-back ones removed; the last is that data set's current run, the one before it
    is where :func:`rollback` returns."""
    dataset = dataset or default_dataset(artifacts)
    stack: list[str] = []
    for e in champion_history(artifacts):
        of = e.get("dataset") or dataset_of(artifacts, e["run_id"])
        if dataset is not None and of != dataset:
            continue
        if e.get("action") == "rollback":
            while stack and stack[-1] != e["run_id"]:
                stack.pop()
        else:
            if e["run_id"] in stack:
                stack.remove(e["run_id"])
            stack.append(e["run_id"])
    cur = current_run_id(artifacts, dataset) if dataset else current_run_id(artifacts)
    stack = [r for r in stack if (runs_dir(artifacts) / r / "manifest.json").is_file()]
    if cur and (not stack or stack[-1] != cur):  # CURRENT set before the log existed
        stack = [r for r in stack if r != cur] + [cur]
    return stack


def promote(artifacts: Path, run_id: str, make_default: bool = False) -> str | None:
    """Make the complete run ``run_id`` its data set's current run (the champion); returns
    that data set's previous current run (or None). The default current run (``CURRENT``,
    what every user sees first) moves only when the run is of the default data set or
    ``make_default`` is set (:func:`core.runs.store.set_current`).

    Raises
    ------
    DataError
        Not a run id, no such run (see :func:`load_run`), an incomplete or damaged run
        (:func:`check_complete`), or it already is current (and, with ``make_default``, the default).
    """
    if not run_id or not RUN_ID.fullmatch(str(run_id)):
        raise DataError(f"'{run_id}' is not a run id (expected e.g. 20261129-073608-fa7f61; see {runs_dir(artifacts)})")
    run = load_run(artifacts, run_id)
    check_complete(run)
    dataset = dataset_of(artifacts, run.run_id)
    previous = current_run_id(artifacts, dataset)
    if previous == run.run_id and (not make_default or current_run_id(artifacts) == run.run_id):
        raise DataError(f"run {run.run_id} is already the current run of data set '{dataset}'")
    set_current(artifacts, run.run_id, "promote", make_default=make_default)
    return previous


def rollback(artifacts: Path, dataset: str | None = None) -> str:
    """Return ``dataset`` (default: the default data set) to the champion before its current
    run; returns the run id now current.

    Repeated rollbacks walk further back through the champions (a rolled-back run is
    skipped; promote it to bring it back).

    Raises
    ------
    DataError
        There is no earlier champion to return to.
    """
    stack = champion_stack(artifacts, dataset)
    if len(stack) < 2:
        raise DataError(f"no earlier champion to roll back to in {artifacts}"
                        + (f" for data set '{dataset}'" if dataset else "")
                        + " (promote a run by id instead: python -m core promote RUN_ID)")
    set_current(artifacts, stack[-2], "rollback")
    return stack[-2]
