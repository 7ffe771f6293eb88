"""Use cases of campaigns: build a cohort from a run's scores (with a holdout sized for the
uplift to detect), save it where the marketing tools read it, and read a campaign out
against its holdout.

The CLI's ``cohort`` and ``readout`` and the Cohort builder page call these.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from core.activation import campaign_tables, cohorts, database
from core.activation.exports import check_output_path, write_table
from core.activation.playbook import BANDS
from core.activation.readout import campaign_readout
from core.activation.stats import detectable_lift
from core.errors import DataError
from core.inputs import tables
from core.inputs.log.events import events, read_log
from core.pipeline.log_table import run_log_spec
from core.runs import reports, store
from core.runs.results import JSONEncoder
from core.settings import Settings


@dataclass(frozen=True)
class Cohort:
    """A cohort built from a run's scores (:func:`build_cohort`).

    Attributes
    ----------
    run_id : the run whose scores chose it.
    export : one row per customer (:func:`core.activation.cohorts.cohort_export`: id,
        segment, persona, propensity, decile, reasons, ``group`` contact or holdout).
    summary : size, expected buyers, expected precision, lift, share of expected buyers
        (:func:`core.activation.cohorts.cohort_summary`).
    rule : what chose it (segments, propensity or percentile range, feature filters), the
        holdout design and the seed: saved with the cohort.
    holdout : customers held out; ``design`` the holdout design (None without a holdout;
        ``detectable_lift``: the smallest relative uplift the groups detect with 80% power,
        :func:`core.activation.stats.detectable_lift`).
    as_of : for a run of stacked snapshots, the cutoff its customers are taken as of.
    notes : what the builder assumed or could not do (a holdout capped at half the cohort).
    """

    run_id: str
    export: pd.DataFrame
    summary: dict
    rule: dict
    holdout: int = 0
    design: dict | None = None
    as_of: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def customers(self) -> int:
        """Customers in the cohort, holdout included."""
        return int(self.summary["customers"])


def band_deciles(band: str | None) -> list[int] | None:
    """The propensity deciles of a band of the matrix (:data:`core.activation.playbook.BANDS`), or None."""
    return None if band is None else list(BANDS[band])


def _check_range(what: str, low: float | None, high: float | None, top: float) -> None:
    """Raise DataError naming the flag when ``low``..``high`` is not a range within 0..``top``."""
    for flag, v in ((f"--min-{what}", low), (f"--max-{what}", high)):
        if v is not None and not 0 <= v <= top:  # nan fails too
            raise DataError(f"{flag} {v}: a {what} from 0 to {top:g}")
    if low is not None and high is not None and low > high:
        raise DataError(f"--min-{what} {low} is above --max-{what} {high}")


def build_cohort(settings: Settings, run_id: str | None = None, segments: list[int] | None = None,
                 min_propensity: float = 0.0, max_propensity: float = 1.0, min_percentile: float | None = None,
                 max_percentile: float | None = None, features: dict | None = None,
                 holdout_for: float | None = None, deciles: list[int] | None = None,
                 action: str | None = None) -> Cohort:
    """The customers of the run ``run_id`` (default: the current run; a run of snapshots as
    of its latest cutoff) in ``segments`` (None: every segment) with a propensity in
    ``[min_propensity, max_propensity]`` (or a percentile in ``[min_percentile,
    max_percentile]``, 100 = the highest score) and the feature ``features`` (``{column:
    values or (low, high)}``, :func:`core.activation.cohorts.feature_mask`), with a seeded
    random holdout sized to detect a relative uplift of ``holdout_for`` (0.10 = +10%;
    :func:`core.activation.cohorts.holdout_design`: at most half the cohort). ``deciles``
    keeps the propensity deciles given (1 = highest; a band of the matrix: high = 1, 2, 3);
    ``action`` names the playbook action the cohort is for (a column of the export).

    Raises
    ------
    DataError
        ``holdout_for`` outside (0, 10] or pushing the expected rate past 100%, a
        propensity outside 0..1 or a percentile outside 0..100 (or a minimum above its
        maximum), a segment the run does not have, or a run that cannot be read.
    """
    if holdout_for is not None and not 0 < holdout_for <= 10:
        raise DataError(f"--holdout-for {holdout_for}: the relative uplift to detect, between 0 and 10 (0.10 = +10%)")
    _check_range("propensity", min_propensity, max_propensity, 1.0)
    _check_range("percentile", min_percentile, max_percentile, 100.0)
    if deciles is not None and (not deciles or any(int(d) != d or not 1 <= d <= 10 for d in deciles)):
        raise DataError(f"deciles {list(deciles)}: propensity deciles are whole numbers from 1 (highest) to 10")
    run = store.load_run(settings.artifacts_dir, run_id)
    every = run.table("scored")
    scored, feats, as_of = cohorts.latest_snapshot(every, run.table("features") if features else None)
    if segments is not None:  # a segment without customers at the latest cutoff is known, and adds none
        unknown = sorted(set(segments) - set(every["segment_id"].astype(int)))
        if unknown:
            raise DataError(f"--segments: run {run.run_id} has no segment {unknown[0]}")
    mask = cohorts.cohort_mask(scored, segments, min_propensity, max_propensity, min_percentile, max_percentile,
                               deciles)
    rule = {"segments": segments}
    if deciles is not None:
        rule["deciles"] = [int(d) for d in deciles]
    if action:
        rule["action"] = action
    if min_percentile is None and max_percentile is None:
        rule.update(min_propensity=min_propensity, max_propensity=max_propensity)
    else:
        rule.update(min_percentile=min_percentile, max_percentile=max_percentile)
    if features:
        mask = mask & cohorts.feature_mask(feats, features)
        rule["features"] = {k: list(v) for k, v in features.items()}
    summary = cohorts.cohort_summary(scored, mask)
    holdout, design, notes = 0, None, []
    if holdout_for is not None and summary["customers"]:
        design, notes = _holdout(summary, holdout_for)
        holdout = design.pop("holdout")
        smallest = detectable_lift(design["expected_rate"], summary["customers"] - holdout, holdout)
        design["detectable_lift"] = smallest if math.isfinite(smallest) else None  # None: no uplift below +1000%
    rule.update(holdout_design=design, seed=settings.seed)
    export = cohorts.cohort_export(scored, mask, holdout, settings.seed, action, run.run_id)
    return Cohort(run.run_id, export, summary, rule, holdout, design, as_of, notes)


def _holdout(summary: dict, holdout_for: float) -> tuple[dict, list[str]]:
    """The holdout design for the cohort (:func:`core.activation.cohorts.holdout_design`)
    and a note when the cohort is too small for it. Raises DataError for an uplift that
    would push the expected rate past 100%."""
    try:
        design = cohorts.holdout_design(summary, holdout_for)
    except ValueError:
        raise DataError(f"--holdout-for {holdout_for}: a {100 * holdout_for:+.3g}% uplift on the cohort's expected "
                        f"rate of {summary['expected_precision']:.1%} would pass 100%: choose a smaller "
                        "uplift") from None
    need, notes = design["needed_per_group"], []
    if design["holdout"] < need:
        notes.append(f"the cohort holds {summary['customers']:,} customers; a {100 * holdout_for:+.3g}% uplift needs "
                     f"{need:,} per group: the holdout is capped at half the cohort ({design['holdout']:,} customers "
                     "not contacted) and will not reach 80% power; a larger uplift or a larger cohort needs fewer")
    return design, notes


@dataclass(frozen=True)
class SavedCohort:
    """Where a cohort went (:func:`save_cohort`): the CSV ``path`` (None when not written),
    the ``cohort_id`` in the activation database and the database as shown (both None when
    not saved there), or why the database could not take it (``database_error``; the file
    is written either way)."""

    path: Path | None
    cohort_id: str | None = None
    database: str | None = None
    database_error: str | None = None


def check_name(name: str | None) -> str:
    """A cohort's name, trimmed. Raises DataError for an empty name or one longer than the
    activation database keeps (:data:`core.activation.database.MAX_TEXT` characters)."""
    name = (name or "").strip()
    if not name:
        raise DataError("--name: a cohort needs a name (the tools select its members by it)")
    if len(name) > database.MAX_TEXT:
        raise DataError(f"--name: {len(name)} characters: a cohort name has at most {database.MAX_TEXT}")
    return name


def save_cohort(settings: Settings, cohort: Cohort, name: str, out: str | Path | None = None,
                write_database: bool = True, db: database.Database | None = None) -> SavedCohort:
    """Save a cohort: its export as a CSV at ``out`` (None: no file) and, when
    ``write_database`` and the settings say so, in the activation database under ``name``
    (tables ``cohorts`` and ``cohort_members``; ``db``: an open connection to it, else one is
    made for this save).

    Raises DataError for an empty or too long name, an empty cohort, or a bad path; a
    database that cannot take the cohort is said in the result, after the file is written."""
    name = check_name(name)
    if cohort.customers == 0:
        raise DataError("no customer matches: widen the propensity range or add segments")
    path = write_table(cohort.export, check_output_path(out, (".csv",))) if out else None
    saved = SavedCohort(path)
    if not (write_database and settings.write_database):
        return saved
    try:
        if db is not None:
            cid = db.write_cohort(cohort.export, name, cohort.run_id, cohort.rule)
        else:
            with database.connect(settings) as db:
                cid = db.write_cohort(cohort.export, name, cohort.run_id, cohort.rule)
    except DataError as exc:
        return replace(saved, database_error=str(exc))
    return replace(saved, cohort_id=cid, database=db.shown)


def database_url(settings: Settings) -> str:
    """The activation database's URL (:func:`core.activation.database.database_url`)."""
    return database.database_url(settings)


def shown_database(settings: Settings) -> str:
    """The activation database's URL as shown to people (without a password)."""
    return database.shown_url(database.database_url(settings))


def open_database(url: str) -> database.Database:
    """The activation database at ``url``, connected and its tables made (the app keeps one
    per server process). Raises DataError naming the URL without its password."""
    return database.Database(url)


def saved_cohorts(db: database.Database) -> pd.DataFrame:
    """The cohorts saved in the activation database, newest first."""
    return db.cohorts()


def saved_cohort(db: database.Database, cohort_id: str) -> tuple[dict, pd.DataFrame]:
    """A saved cohort: ``(its name, run, filters..., its members)``. Raises DataError for an
    unknown id."""
    return db.cohort(cohort_id)


def default_cohort_file(run_id: str) -> str:
    """``cohort_<run id>_<UTC date>.csv``: where a cohort is exported when no file is named."""
    return f"cohort_{run_id}_{datetime.now(timezone.utc):%Y-%m-%d}.csv"


@dataclass(frozen=True)
class Readout:
    """A campaign's readout (:func:`core.activation.readout.campaign_readout`, with
    ``run_id`` and ``cohort`` added to ``result``), where it was saved (``path``, None when
    not saved) and the run whose scores were joined (``run_id``, None when none could be)."""

    result: dict
    run_id: str | None
    cohort: str
    path: Path | None = None


def readout(settings: Settings, *, cohort_id: str | None = None, cohort: str | Path | pd.DataFrame | None = None,
            cohort_source: str | None = None, outcomes: str | Path | pd.DataFrame | None = None,
            outcomes_source: str | None = None, log: str | Path | None = None, window: tuple[str, str] | None = None,
            id_column: str | None = None, purchased: str | None = None, revenue: str | None = None,
            sized_for: float | None = None, run_id: str | None = None, save: bool = True,
            out: str | Path | None = None, db: database.Database | None = None) -> Readout:
    """Read a campaign out: its cohort (a cohort saved in the activation database, by
    ``cohort_id``; or a cohort export, a path or a table already read named
    ``cohort_source``) against the outcomes of its window (a table, a path or a table read,
    columns found by name unless ``id_column``, ``purchased``, ``revenue`` name them; or a
    transaction log and its ``window`` [start, end), read with the run's log spec).

    The cohort's run (``run_id``; default: the saved cohort's own, or the cohort file's
    ``run_id`` column) gives the scores and names the cohort lacks; a cohort file that
    names no run, or a run that is no longer kept, gives the overall uplift and revenue
    without segments, bands or calibration, and says so. A cohort more than half of whose
    ids its run never scored is refused (it is another run's). ``sized_for``: the
    uplift the holdout was sized for (default: the saved cohort's design). ``db``: an open
    connection to the activation database (else one is made to read a saved cohort). With ``save``,
    the readout is kept beside its run (``monitoring/<run>/readout-*.json``); ``out`` also
    writes its JSON there.

    Raises
    ------
    DataError
        Both or neither of a cohort and a cohort id, both or neither of outcomes and a log,
        a log without a window, a cohort of another run (or of two runs), ``sized_for``
        outside (0, 10], a bad file, a cohort without a holdout, no cohort customer in the
        outcomes.
    """
    if (cohort is None) == (cohort_id is None):
        raise DataError("readout needs one of --cohort FILE or --cohort-id ID")
    if (outcomes is None) == (log is None):
        raise DataError("readout needs one of --outcomes FILE or --log LOG --window START END"
                        + (", not both" if log is not None else ""))
    if log is not None and not window:
        raise DataError("--log needs --window START END (the campaign window)")
    if sized_for is not None and not 0 < sized_for <= 10:
        raise DataError(f"--sized-for {sized_for}: the relative uplift the holdout was sized for, between 0 and 10 "
                        "(0.10 = +10%)")
    if out:
        check_output_path(out, (".json",))
    members, source, design_for, run_id = _members(settings, cohort_id, cohort, cohort_source, run_id, db)
    run, notes = _cohort_run(settings, run_id)
    notes = list(members.attrs.get("notes", [])) + notes
    if run is not None:
        scored = run.table("scored")
        _check_ids_in_run(members, scored, run.run_id, source)
        members = campaign_tables.with_scores(members.drop(columns="run_id", errors="ignore"), scored)
    else:
        members = members.drop(columns=["run_id", "segment_id", "persona", "propensity", "propensity_decile"],
                               errors="ignore")
    if log is not None:
        if run is None:
            raise DataError("outcomes from a log need the cohort's run (its log spec): give the outcomes as a table")
        spec = run_log_spec(run, "give the outcomes as a table (--outcomes)")
        ev, _ = events(read_log(log, spec), spec, str(log))
        realised = campaign_tables.outcomes_from_events(ev, *window)
    else:
        frame = outcomes if isinstance(outcomes, pd.DataFrame) else _read_ids_as_text(outcomes, id_column)
        realised = campaign_tables.outcome_table(frame, outcomes_source or str(outcomes), id_column, purchased, revenue)
    realised.attrs["notes"] = notes + list(realised.attrs.get("notes", []))
    result = campaign_readout(members, realised, sized_for=sized_for if sized_for is not None else design_for,
                                      seed=settings.seed, segment_names=run.segment_names() if run else None)
    result = {"run_id": run.run_id if run else None, "cohort": source, **result}
    path = reports.save_monitoring(settings.artifacts_dir, run.run_id, "readout", result) if save and run else None
    if out:
        _write_json(out, result)
    return Readout(result, run.run_id if run else None, source, path)


def save_readout(settings: Settings, result: Readout) -> Path:
    """Keep a readout beside its run (``monitoring/<run>/readout-*.json``); returns the path.
    Raises DataError when the readout has no run to keep it with."""
    if result.run_id is None:
        raise DataError("this readout has no run to be kept with: its cohort's run is no longer kept")
    return reports.save_monitoring(settings.artifacts_dir, result.run_id, "readout", result.result)


def read_cohort(path: str | Path) -> pd.DataFrame:
    """A cohort export read from ``path`` (CSV, xlsx or Parquet with ``customer_id`` and
    ``group``), checked (:func:`core.activation.campaign_tables.cohort_members`). Raises
    DataError naming the file."""
    return campaign_tables.cohort_members(_read_ids_as_text(path), str(path))


def read_outcomes(path: str | Path, id_column: str | None = None, purchased: str | None = None,
                  revenue: str | None = None) -> pd.DataFrame:
    """The outcomes of a campaign window read from ``path``
    (:func:`core.activation.campaign_tables.outcome_table`). Raises DataError naming the file."""
    return campaign_tables.outcome_table(_read_ids_as_text(path, id_column), str(path), id_column, purchased, revenue)


def _members(settings: Settings, cohort_id, cohort, cohort_source, run_id,
             db: database.Database | None) -> tuple[pd.DataFrame, str, float | None, str | None]:
    """The cohort's checked members, how it is named, the uplift its holdout was sized for
    (a saved cohort's design) and its run id (given, or the saved cohort's)."""
    if cohort_id is not None:
        if db is not None:
            meta, members = db.cohort(cohort_id)
        else:
            with database.connect(settings) as conn:
                meta, members = conn.cohort(cohort_id)
        source = f"cohort {cohort_id} ('{meta['name']}')"
        design = ((meta["filters"] or {}).get("holdout_design") or {}).get("relative_lift")
        return campaign_tables.cohort_members(members, source), source, design, run_id or meta["run_id"]
    frame = cohort if isinstance(cohort, pd.DataFrame) else _read_ids_as_text(cohort)
    source = cohort_source or str(cohort)
    members = campaign_tables.cohort_members(frame, source)
    named = sorted(members["run_id"].dropna().astype(str).str.strip().unique()) if "run_id" in members else []
    if len(named) > 1:
        raise DataError(f"{source}: the cohort names {len(named)} runs ({', '.join(named[:3])}): a readout reads one "
                        "cohort of one run")
    if named and run_id and named[0] != run_id:
        raise DataError(f"{source}: the cohort was built from run {named[0]}, not from run {run_id} (--run)")
    return members, source, None, run_id or (named[0] if named else NO_RUN)


#: The run id of a cohort file that names no run (no ``run_id`` column, no ``--run``): its
#: readout joins no run's scores, as they could be another run's customers under the same ids.
NO_RUN = ""

#: The largest share of a cohort's ids that its run may lack: beyond it the cohort is of
#: another run or data set, and the run's scores would be attached to colliding ids.
MAX_IDS_NOT_IN_RUN = 0.5


def _cohort_run(settings: Settings, run_id: str | None) -> tuple[store.Run | None, list[str]]:
    """The run whose scores the readout joins (``run_id``), or None with a note when the
    cohort names no run (:data:`NO_RUN`), or its run is no longer kept."""
    leave = "the readout gives the overall uplift; its segment and band rows and calibration check are left out"
    if run_id == NO_RUN:
        return None, [f"the cohort file names no run (no run_id column, no --run): {leave}"]
    try:
        return store.load_run(settings.artifacts_dir, run_id), []
    except DataError:
        what = f"the cohort's run {run_id} is no longer kept" if run_id else "there is no trained run"
        return None, [f"{what}: {leave}"]


def _check_ids_in_run(members: pd.DataFrame, scored: pd.DataFrame, run_id: str, source: str) -> None:
    """Refuse a cohort most of whose ids (more than :data:`MAX_IDS_NOT_IN_RUN`) its run never
    scored: it is another run's or data set's cohort (a run of snapshots: its customers as of
    the latest cutoff, :func:`core.activation.cohorts.latest_snapshot`)."""
    latest, _, _ = cohorts.latest_snapshot(scored)
    missing = int((~members["customer_id"].isin(set(latest["customer_id"].astype(str)))).sum())
    if missing > MAX_IDS_NOT_IN_RUN * len(members):
        raise DataError(f"{source}: {missing:,} of {len(members):,} cohort customers ({missing / len(members):.0%}) are "
                        f"not in run {run_id}: the cohort is of another run or data set")


def _read_ids_as_text(path: str | Path, id_column: str | None = None) -> pd.DataFrame:
    """A cohort or outcome table read with its customer id column as text (the names
    :data:`core.activation.campaign_tables.ID_NAMES` finds it by, as written in any case, or
    ``id_column``), so ``00021`` is not read as the number 21."""
    names = tuple(campaign_tables.ID_NAMES) + ((id_column,) if id_column else ())
    header = tables.read_table(path).columns  # the names as written, to match them in any case
    keep = tuple(c for c in map(str, header) if campaign_tables.column_key(c) in names or c in names)
    return tables.read_table(path, text_columns=keep)


def _write_json(path: str | Path, result: dict) -> Path:
    out = check_output_path(path, (".json",))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, cls=JSONEncoder, indent=2, allow_nan=False), encoding="utf-8")
    except OSError as exc:
        raise DataError(f"{out}: cannot write ({exc.strerror or exc})") from None
    return out
