"""Use cases on the runs folder: promote a run, roll back to the previous champion (the
activation database's current run following), and name a segment by hand.

The CLI's ``promote`` and ``rollback``, the Admin page's buttons and the Segments page's
renaming call these.
"""
from __future__ import annotations

from dataclasses import dataclass

from core.activation import database
from core.errors import DataError
from core.runs import champions, names, store
from core.settings import Settings


@dataclass(frozen=True)
class RunChange:
    """A change of the current run: the run now current, the one before it, and what the
    activation database made of it (``database``: one line, or None when it was not told;
    ``database_error``: why it could not be; the change stands either way)."""

    current: str
    previous: str | None
    database: str | None = None
    database_error: str | None = None


def promote(settings: Settings, run_id: str) -> RunChange:
    """Make the run ``run_id`` current (:func:`core.runs.champions.promote`), then tell the
    activation database. Raises DataError as :func:`core.runs.champions.promote`."""
    previous = champions.promote(settings.artifacts_dir, run_id)
    return _told(settings, RunChange(run_id, previous))


def rollback(settings: Settings) -> RunChange:
    """Return to the champion before the current run (:func:`core.runs.champions.rollback`),
    then tell the activation database. Raises DataError when there is none."""
    previous = store.current_run_id(settings.artifacts_dir)
    now = champions.rollback(settings.artifacts_dir)
    return _told(settings, RunChange(now, previous))


def _told(settings: Settings, change: RunChange) -> RunChange:
    """``change`` with what the activation database said of it (:func:`core.activation.database.sync_current`)."""
    try:
        said = database.sync_current(settings, change.current)
    except DataError as exc:
        return RunChange(change.current, change.previous, database_error=f"{exc}; scores_current still shows the "
                                                                         "previous run")
    return RunChange(change.current, change.previous, database=said)


def rename_segment(settings: Settings, run_id: str, segment_id: int, name: str | None) -> dict[int, str]:
    """Set (or with an empty ``name``, clear) the hand-set name of a segment of the run's data
    set (:func:`core.runs.names.set_display_name`: unique among the run's segments, kept
    across retrains). Returns the run's segment names after the change.

    Raises DataError for a name that is too long or another segment's."""
    run = store.load_run(settings.artifacts_dir, run_id)
    shown = run.segment_names()
    auto = run.scoring().segment_names
    names.set_display_name(settings.artifacts_dir, run.manifest().dataset, segment_id, name,
                           taken={k: v for k, v in shown.items() if k != segment_id}, auto_name=auto.get(segment_id))
    return run.segment_names()
