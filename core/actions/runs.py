"""Use cases on the runs folder: promote a run, roll back to the previous champion (the
activation database's current run following), and name a segment by hand.

The CLI's ``promote`` and ``rollback``, the Admin page's buttons and the Segments page's
renaming call these.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from core.activation import database
from core.errors import DataError
from core.runs import champions, names, store
from core.settings import Settings


@dataclass(frozen=True)
class RunChange:
    """A change of a data set's current run: the run now current, the one before it, the data
    set, whether the default current run (what every user sees first) moved, and what the
    activation database made of it (``database``: one line, or None when it was not told,
    as for a data set that is not the default; ``database_error``: why it could not be; the
    change stands either way)."""

    current: str
    previous: str | None
    dataset: str | None = None
    default: bool = True
    database: str | None = None
    database_error: str | None = None


def promote(settings: Settings, run_id: str, make_default: bool = False) -> RunChange:
    """Make the run ``run_id`` its data set's current run (:func:`core.runs.champions.promote`;
    the default one too with ``make_default`` or when it is of the default data set), then
    tell the activation database when the default moved. Raises DataError as
    :func:`core.runs.champions.promote`."""
    previous = champions.promote(settings.artifacts_dir, run_id, make_default=make_default)
    return _told(settings, _change(settings, run_id, previous))


def rollback(settings: Settings, dataset: str | None = None) -> RunChange:
    """Return ``dataset`` (default: the default data set) to the champion before its current
    run (:func:`core.runs.champions.rollback`), then tell the activation database when the
    default moved. Raises DataError when there is none."""
    dataset = dataset or store.default_dataset(settings.artifacts_dir)
    previous = store.current_run_id(settings.artifacts_dir, dataset)
    now = champions.rollback(settings.artifacts_dir, dataset)
    return _told(settings, _change(settings, now, previous))


def _change(settings: Settings, run_id: str, previous: str | None) -> RunChange:
    dataset = store.dataset_of(settings.artifacts_dir, run_id)
    return RunChange(run_id, previous, dataset, default=store.current_run_id(settings.artifacts_dir) == run_id)


def _told(settings: Settings, change: RunChange) -> RunChange:
    """``change`` with what the activation database said of it (:func:`core.activation.database.sync_current`;
    told only when the default current run moved)."""
    if not change.default:
        return change
    try:
        said = database.sync_current(settings, change.current)
    except DataError as exc:
        return replace(change, database_error=f"{exc}; scores_current still shows the previous run")
    return replace(change, database=said)


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
