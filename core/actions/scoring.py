"""Use cases of scoring: score a file with a run (a table, or a log as of a cutoff), check a
new table's drift against a run, and backtest a past scoring against what followed.

The CLI's ``score``, ``drift`` and ``backtest``, the scoring job the Score page starts and
the Admin page's drift check all call these.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from core.activation import database
from core.activation.exports import check_output_path, write_table
from core.errors import DataError
from core.inputs import tables, validation
from core.inputs.log.events import note_lines
from core.inputs.shopsphere_spec import resolve_spec
from core.ops import monitoring
from core.pipeline.dask_scoring import score_dask
from core.pipeline.log_table import run_scoring_table
from core.pipeline.scoring import OUTPUT_NAMES, ScoringModel
from core.pipeline.steps import Progress
from core.runs import reports, store
from core.settings import Settings


@dataclass(frozen=True)
class ScoreResult:
    """A scoring written to a file (and to the activation database).

    Attributes
    ----------
    run_id : the run that scored.
    rows : customers scored.
    output : the scored file (CSV or Parquet; columns as :data:`core.pipeline.scoring.OUTPUT_NAMES`
        renames them); ``csv``: a spreadsheet-safe CSV copy when asked for.
    seconds : the scoring's wall time, reading and writing included.
    notes : one plain line per cleaning action the table needed, and for a log what was
        ignored or assumed.
    source : how the features were built ("features of N customers as of DATE from the log
        L"), None for a table.
    database, database_error : as :class:`core.actions.training.TrainResult`.
    """

    run_id: str
    rows: int
    output: Path
    seconds: float
    notes: list[str] = field(default_factory=list)
    source: str | None = None
    csv: Path | None = None
    database: str | None = None
    database_error: str | None = None


def score_file(settings: Settings, data: str | Path | None = None, *, log: str | Path | None = None,
               cutoff: str | None = None, run_id: str | None = None, spec: str | Path | None = None,
               sheet: str | None = None, out: str | Path | None = None, csv: str | Path | None = None,
               engine: str = "pandas", scheduler: str | None = None, workers: int = 2, name: str | None = None,
               write_database: bool = True, progress: Progress | None = None) -> ScoreResult:
    """Score the table ``data`` (or the log ``log`` as of ``cutoff``, for a run built from a
    log) with the run ``run_id`` (default: the current run) and write the scored file.

    Parameters
    ----------
    spec : a spec the table follows; refused unless it is the run's own.
    out : the scored file (.csv or .parquet; default ``scores_<run id>_<UTC date>.parquet``);
        ``csv``: also a spreadsheet-safe CSV here.
    engine : ``pandas`` (this process, in chunks) or ``dask`` (a Parquet data set on a Dask
        cluster: ``scheduler`` address, or a local cluster of ``workers`` processes).
    name : the file as the person knows it (an upload's name), in messages.
    write_database : write the scores to the activation database too (when the settings'
        ``write_database`` is on as well).
    progress : ``(fraction 0..1, message)`` callback.

    Raises
    ------
    DataError
        Both or neither of ``data`` and ``log``, a table for a run built from a log, a spec
        other than the run's, a bad file or output path, or what validation refuses.
    """
    if (data is None) == (log is None):
        raise DataError("score needs one of --data TABLE or --log LOG" + (", not both" if data is not None else ""))
    if cutoff and log is None:
        raise DataError("--cutoff goes with --log")
    if log is not None and spec:
        raise DataError("score --log reads the log with the run's own log spec: leave out --spec")
    if log is not None and engine != "pandas":
        raise DataError("score --log builds features in this process: use --engine pandas")
    progress = progress or (lambda fraction, message: None)
    run = store.load_run(settings.artifacts_dir, run_id)
    if data is not None and (run.manifest().source or {}).get("kind") == "log":
        raise DataError(f"run {run.run_id} was built from a log: score it with --log LOG [--cutoff DATE]")
    out = check_output_path(out or f"scores_{run.run_id}_{datetime.now(timezone.utc):%Y-%m-%d}.parquet")
    t0 = time.perf_counter()
    progress(0.02, f"loading run {run.run_id}")
    # loaded once, before the table is read: a spec other than the run's fails here
    model = ScoringModel.load(run, resolve_spec(spec) if spec else None)
    name = name or str(log if log is not None else data)
    notes, source = [], None
    if engine == "dask":
        progress(0.05, f"scoring {name} on Dask")
        scored = score_dask(model, data, scheduler, workers)
    else:
        progress(0.05, f"reading {name}")
        if log is not None:
            raw, source, notes = _log_table(run, log, cutoff)
        else:
            try:
                raw = tables.read_table(data, model.spec, sheet)  # the spec's id column is read as text
            except DataError as exc:  # name the file as the person knows it, not the server's copy
                raise DataError(str(exc).replace(str(data), name)) from None
        scored, report = model.score(raw, source=name, n_jobs=settings.n_jobs, progress=lambda done, total: progress(
            0.1 + 0.8 * done / max(total, 1), f"scored {done:,} of {total:,} customers"))
        notes += validation.quality_notes(report["quality"], report["unseen_categories"])
    progress(0.92, "writing the scored table")
    shown = scored.rename(columns=OUTPUT_NAMES)
    out = write_table(shown, out)
    csv = write_table(shown, check_output_path(csv, (".csv",))) if csv else None
    result = ScoreResult(run.run_id, len(scored), out, time.perf_counter() - t0, notes, source, csv)
    if not (write_database and settings.write_database):
        return result
    progress(0.96, "writing the scores to the activation database")
    try:
        said = database.write_scoring(settings, scored, store.current_run_id(settings.artifacts_dir))
    except DataError as exc:
        return replace(result, database_error=f"{exc}; the scored file was written")
    return replace(result, database=said)


def _log_table(run: store.Run, log: str | Path, cutoff: str | None) -> tuple[pd.DataFrame, str, list[str]]:
    """The scoring table of a log for a run built from a log, how it was built, and notes."""
    table, note, event_notes = run_scoring_table(run, log, cutoff)
    notes = note_lines(event_notes)
    source = (f"features of {len(table):,} customers as of {note['cutoff']} from the log {log}"
              + (f" ({note['events_after_cutoff_ignored']:,} lines on or after the cutoff ignored)"
                 if note["events_after_cutoff_ignored"] else ""))
    if note.get("days_after_the_log_ends"):
        notes.append(f"the cutoff lies {note['days_after_the_log_ends']:,} days after the log ends: customers are "
                     "scored as if none of them bought in between")
    return table, source, notes


@dataclass(frozen=True)
class Drift:
    """A drift check (:func:`core.ops.monitoring.drift_against_run`): the run it was checked
    against, the ``report`` (PSI per feature, of the score, of segment shares) and where it
    was saved (``path``)."""

    run_id: str
    report: dict
    path: Path


def drift(settings: Settings, data: str | Path | pd.DataFrame, run_id: str | None = None,
          source: str | None = None) -> Drift:
    """The drift of a new table (a path, or a table already read and mapped to the run's
    spec, named ``source``) against the run ``run_id`` (default: the current run), saved
    beside the run (``monitoring/<run>/drift-*.json``).

    Raises DataError for a bad table, or one without the run's feature columns."""
    run = store.load_run(settings.artifacts_dir, run_id)
    if isinstance(data, pd.DataFrame):
        table, source = data, source or "table"
    else:
        table, source = tables.read_table(data, run.spec()), source or str(data)
    report = monitoring.drift_against_run(run, table, source=source, n_jobs=settings.n_jobs)
    return Drift(run.run_id, report, reports.save_monitoring(settings.artifacts_dir, run.run_id, "drift", report))


@dataclass(frozen=True)
class Backtest:
    """A backtest (:func:`core.ops.monitoring.backtest`): the ``report`` and where it was
    saved (None when the scoring's run is not in this runs folder)."""

    report: dict
    path: Path | None


def backtest(settings: Settings, scores: str | Path, outcomes: str | Path, target: str | None = None) -> Backtest:
    """A past scoring (a file ``score`` wrote) against the outcomes that followed (customer id
    and the realised 0/1 outcome in ``target``, default the scoring run's target).

    Raises DataError for unreadable files, an outcome column that cannot be told, or ids
    that do not meet."""
    scored = tables.read_table(scores)
    run_id = str(scored["run_id"].iloc[0]) if "run_id" in scored and len(scored) else None
    run = None
    if run_id and store.RUN_ID.fullmatch(run_id) and (store.runs_dir(settings.artifacts_dir) / run_id).is_dir():
        run = store.load_run(settings.artifacts_dir, run_id)
    target = target or (run.spec().target if run is not None else None)
    if target is None:
        raise DataError(f"{scores}: cannot tell the outcome column (no run {run_id} in {settings.artifacts_dir}): "
                        "give --target")
    id_col = run.spec().id_column if run is not None else "customer_id"
    realised = tables.read_table(outcomes)
    if id_col not in realised and "customer_id" in realised:
        id_col = "customer_id"
    try:
        report = monitoring.backtest(scored, realised, target, id_column=id_col, seed=settings.seed)
    except ValueError as exc:
        raise DataError(f"{scores} / {outcomes}: {exc}") from None
    path = reports.save_monitoring(settings.artifacts_dir, run.run_id, "backtest", report) if run else None
    return Backtest(report, path)


#: The P(a purchase in the churn window) from which a customer's next order gets a date.
LIKELY_TO_BUY = 0.5


def _dates(as_of: str, days: pd.Series) -> pd.Series:
    """``as_of`` plus ``days`` as ISO dates, missing (an empty CSV cell, a Parquet null)
    where ``days`` is missing."""
    out = pd.Timestamp(as_of) + pd.to_timedelta(days, unit="D")
    return out.dt.strftime("%Y-%m-%d").where(days.notna(), None)


@dataclass
class ValueResult:
    """What :func:`value_file` did: ``rows`` customers written to ``output``, the
    ``info`` of :func:`core.pipeline.value_table.value_predictions`, ``notes`` in words and
    the ``seconds`` it took."""

    rows: int
    output: Path
    info: dict
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def value_file(settings: Settings, log: str | Path, spec: str | Path, *, cutoff: str | None = None,
               horizon: int = 365, churn_horizon: int = 90, out: str | Path | None = None,
               progress: Progress | None = None) -> ValueResult:
    """Each customer's expected spend and orders over ``horizon`` days, P(a purchase) and
    churn risk over ``churn_horizon`` days as of ``cutoff`` (ISO date; None: the day after the
    log's last event), with the naive, BG/NBD and Pareto/NBD figures beside them
    (:func:`core.pipeline.value_table.value_predictions`, the events before the cutoff alone),
    written to ``out`` (CSV or Parquet; default ``value_<UTC date>.parquet`` here). Columns
    name their horizon (``expected_spend_365d``, ``churn_risk_90d``...); ``next_order_in_days``
    and ``next_order_date`` (the median wait for a customer who orders within the churn
    window) only for customers with P(a purchase) of at least :data:`LIKELY_TO_BUY`.

    Raises DataError for a bad log or spec, a cutoff that is not a date, a horizon below 1 day,
    a log too short for the models (naming the history needed), or an unwritable ``out``."""
    from core.inputs import log as logs
    from core.inputs.log.snapshots import scoring_cutoff
    from core.pipeline.value_table import value_predictions

    progress = progress or (lambda f, m: None)
    t0 = time.perf_counter()
    for name, days in (("horizon", horizon), ("churn horizon", churn_horizon)):
        if int(days) < 1:
            raise DataError(f"the {name} is {days} days: it must be at least 1 day")
    out = check_output_path(out or f"value_{datetime.now(timezone.utc):%Y%m%d}.parquet")
    log_spec = logs.load_log_spec(spec)
    progress(0.05, f"reading the log {log}")
    ev, event_notes = logs.events(logs.read_log(log, log_spec), log_spec, str(log))
    ev, log_spec, _ = logs.channel_as_attribute(ev, log_spec)
    cut, cut_notes = scoring_cutoff(ev, cutoff)
    if cut_notes.get("days_after_the_log_ends"):
        raise DataError(f"--cutoff {cut_notes['cutoff']} lies after the log's last line "
                        f"({logs.day_iso(int(ev['day'].max()))}): the windows before it would be empty; give a cutoff "
                        "on or before the day after the last line")
    progress(0.2, f"value, orders and churn models as of {cut_notes['cutoff']}")
    got = value_predictions(ev, log_spec, logs.customer_attributes(ev, log_spec), cut, int(horizon),
                            int(churn_horizon), seed=settings.seed, n_jobs=settings.n_jobs)
    h, c = f"{int(horizon)}d", f"{int(churn_horizon)}d"
    t = got.table
    # the rule on the figure as written (4 decimals), whole days as the dates
    likely = t["next_order_days"].astype(float).where(t["p_buy"].astype(float).round(4) >= LIKELY_TO_BUY).round(0)
    table = pd.DataFrame({"customer_id": t["customer_id"], "as_of": cut_notes["cutoff"],
                          f"expected_spend_{h}": t["expected_spend"].round(2),
                          f"expected_orders_{h}": t["expected_orders"].round(3),
                          f"p_buy_{c}": t["p_buy"].round(4), f"churn_risk_{c}": t["churn_risk"].round(4),
                          "next_order_in_days": likely, "next_order_date": _dates(cut_notes["cutoff"], likely),
                          f"naive_spend_{h}": t["naive_spend"].round(2),
                          f"bgnbd_spend_{h}": t["bgnbd_spend"].round(2), f"pnbd_spend_{h}": t["pnbd_spend"].round(2),
                          f"bgnbd_orders_{h}": t["bgnbd_orders"].round(3), f"pnbd_orders_{h}": t["pnbd_orders"].round(3),
                          f"bgnbd_churn_risk_{c}": (1 - t["bgnbd_p_buy"]).round(4),
                          f"pnbd_churn_risk_{c}": (1 - t["pnbd_p_buy"]).round(4)})
    numbers = [c for c in table.columns if c not in ("customer_id", "as_of", "next_order_date")]
    table[numbers] = table[numbers].astype("float64")   # the boosters' float32 as every other figure
    path = write_table(table, out)
    notes = note_lines(event_notes)
    before = ev.loc[ev["day"].to_numpy() < cut, "customer_id"].astype(str).unique()
    unpredicted = len(set(before) - set(table["customer_id"]))
    if unpredicted:
        notes.append(f"{unpredicted:,} customers with lines before {cut_notes['cutoff']} made no purchase there (net "
                     "spend above 0: only returns or zero-value lines) and are not predicted")
    if cut_notes.get("events_after_cutoff_ignored"):
        notes.append(f"{cut_notes['events_after_cutoff_ignored']:,} lines on or after {cut_notes['cutoff']} were not read")
    for key, days in (("value_model", int(horizon)), ("churn_model", int(churn_horizon))):
        trained = got.info[key]["horizon_days"]
        if trained < days:
            notes.append(f"the log's history before {cut_notes['cutoff']} trains the {key.split('_')[0]} model at "
                         f"{trained} days at most: carried to {days} days by BG/NBD's time shape")
    return ValueResult(len(table), path, got.info, notes, round(time.perf_counter() - t0, 1))
