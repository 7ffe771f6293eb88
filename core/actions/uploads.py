"""Use cases of the Admin page's uploads: draft a spec for an uploaded table, map its columns
to a spec, check it (:func:`core.actions.training.check_table`, which the CLI's ``check``
runs too), check an uploaded transaction log, and train on either as a background job.

An uploaded file is only ever parsed as a table (or a log): never unpickled, never run.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core.actions import jobs as job_actions
from core.errors import DataError
from core.inputs import spec_draft, tables
from core.inputs.log.events import check_windows, cutoff_days, day_iso, events, note_lines, read_log
from core.inputs.log.spec import load_log_spec
from core.inputs.shopsphere_spec import resolve_spec
from core.inputs.spec import DatasetSpec, spec_hash
from core.ops.jobs import Job
from core.runs import uploads
from core.settings import Settings


def guess_target(table: pd.DataFrame, source: str) -> str | None:
    """The column a drafted spec would take as the target (:func:`core.inputs.spec_draft.find_target`),
    or None when none is clear."""
    try:
        return spec_draft.find_target(table, source=source)
    except DataError:
        return None


def guess_id(table: pd.DataFrame, target: str | None, source: str) -> str | None:
    """The column a drafted spec would take as the customer id, or None (the row number)."""
    return spec_draft.find_id(table, target=target, source=source)


def draft(table: pd.DataFrame, target: str, id_column: str | None, name: str, source: str) -> spec_draft.Draft:
    """A spec drafted from an uploaded table (:func:`core.inputs.spec_draft.draft_spec`).
    Raises DataError for a target or id the draft cannot use."""
    return spec_draft.draft_spec(table, target=target, id_column=id_column, name=name, source=source)


def draft_choices(drafted: spec_draft.Draft) -> pd.DataFrame:
    """The draft's columns as a form: kind, group, use, note (:func:`core.inputs.spec_draft.choices`)."""
    return spec_draft.choices(drafted)


def apply_draft_choices(drafted: spec_draft.Draft, edited: pd.DataFrame) -> spec_draft.Draft:
    """The draft with the form's changes (:func:`core.inputs.spec_draft.apply_choices`).
    Raises DataError for a choice the spec cannot take."""
    return spec_draft.apply_choices(drafted, edited)


def draft_toml(drafted: spec_draft.Draft, source: str) -> str:
    """The draft as the commented TOML a spec file holds (:func:`core.inputs.spec_draft.spec_toml`)."""
    return spec_draft.spec_toml(drafted, source)


def save_spec(text: str, name: str, folder: str | Path = "configs") -> Path:
    """Keep a drafted spec as ``<folder>/<name>.toml``, offered then in the spec lists and to
    the CLI. Raises DataError when that file exists already."""
    path = Path(folder) / f"{name}.toml"
    if path.exists():
        raise DataError(f"{path} exists already: rename the file you upload, or edit that spec by hand")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def table_spec(path: str | None) -> DatasetSpec:
    """The spec at ``path`` (None: the built-in ShopSphere spec). Raises DataError for a bad file."""
    return resolve_spec(path)


def spec_key(spec: DatasetSpec) -> str:
    """A short hash of a spec (:func:`core.inputs.spec.spec_hash`): a changed draft is a new one."""
    return spec_hash(spec)


def guess_mapping(columns, spec: DatasetSpec) -> dict[str, str | None]:
    """A first mapping of an upload's columns to the spec (:func:`core.inputs.tables.guess_mapping`)."""
    return tables.guess_mapping(columns, spec)


def train_on_table(settings: Settings, table: pd.DataFrame, spec: DatasetSpec, spec_path: str | None,
                   content: bytes, name: str, requested_by: str, drafted_text: str | None = None) -> Job:
    """Keep a checked upload (mapped to ``spec``, as Parquet under ``uploads/``, with its
    drafted spec beside it when there is one) and start a training job on it
    (:func:`core.actions.jobs.start_training`); a job that does not finish, or does not
    start, removes what was kept. Raises DataError when the upload cannot be kept or the
    job cannot start (another training running)."""
    path = uploads.save_upload(settings.artifacts_dir, table, spec.name, content)
    if drafted_text is not None:  # the drafted spec is kept beside the upload it describes
        spec_path = str(path.with_suffix(".spec.toml"))
        Path(spec_path).write_text(drafted_text, encoding="utf-8")
    kept = [str(path)] + ([spec_path] if drafted_text is not None else [])
    try:
        return job_actions.start_training(settings, path, spec_path, name, requested_by, remove_on_failure=kept)
    except DataError:
        for f in kept:
            Path(f).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class LogCheck:
    """An uploaded log checked with a log spec (:func:`check_log`): where it is kept
    (``path``), its ``lines``, ``customers``, ``first`` and ``last`` day (ISO), the cutoffs of
    its snapshots (day numbers), their label window (``horizon_days``) and ``windows`` (one
    line each), and ``notes`` (one line each: lines without a customer, duplicate lines,
    customers with only returns..., :func:`core.inputs.log.events.note_lines`)."""

    path: Path
    lines: int
    customers: int
    first: str
    last: str
    cutoffs: list[int]
    horizon_days: int
    windows: list[str]
    notes: list[str]


def check_log(settings: Settings, content: bytes, name: str, spec_path: str | Path) -> LogCheck:
    """Keep an uploaded transaction log as sent (under ``uploads/``) and read it with the log
    spec ``spec_path``: its events, the cutoffs of its snapshots and their windows. Raises
    DataError naming the upload as the person knows it; a log that does not read is not
    kept."""
    spec = load_log_spec(spec_path)
    path = uploads.save_upload_bytes(settings.artifacts_dir, name, content)
    try:
        raw = read_log(path, spec)
        ev, notes = events(raw, spec, name)
        cuts = cutoff_days(spec, int(ev["day"].min()), int(ev["day"].max()))
        windows = check_windows(cuts, spec.horizon_days)
    except DataError as exc:
        path.unlink(missing_ok=True)
        raise DataError(str(exc).replace(str(path), name)) from None
    return LogCheck(path, len(raw), int(ev["customer_id"].nunique()), day_iso(int(ev["day"].min())),
                    day_iso(int(ev["day"].max())), cuts, spec.horizon_days, windows, note_lines(notes))


def train_on_log(settings: Settings, checked: LogCheck, spec_path: str | Path, name: str, requested_by: str) -> Job:
    """Start a training job on a checked log upload (:func:`check_log`); a job that does not
    finish, or does not start, removes the upload. Raises DataError as
    :func:`core.actions.jobs.start_training`."""
    try:
        return job_actions.start_training(settings, checked.path, spec_path, name, requested_by, log=True,
                                          remove_on_failure=[str(checked.path)])
    except DataError:
        checked.path.unlink(missing_ok=True)
        raise


def keep_for_scoring(settings: Settings, content: bytes, name: str) -> Path:
    """Keep an uploaded table as sent (under ``uploads/``) for a scoring job to read.
    Raises DataError when it cannot be written."""
    return uploads.save_upload_bytes(settings.artifacts_dir, name, content)
