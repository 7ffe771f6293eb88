"""Use cases of training: train a run (first run, or a challenger to the current one), the
monthly retrain, generate the default data, draft a spec, check a table before training.

Every front end (the CLI, the jobs, the Admin page) calls these and formats what they
return; none of them holds a step of these workflows of its own.
"""
from __future__ import annotations

import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from core.activation import database
from core.activation.exports import check_output_path, write_table
from core.errors import DataError
from core.inputs import spec_draft, tables, validation
from core.inputs.log.events import note_lines
from core.inputs.shopsphere_spec import shopsphere_spec
from core.inputs.spec import DatasetSpec
from core.inputs.synthetic import shopsphere, shopsphere_log
from core.models.propensity import MIN_CLASS_COUNT
from core.pipeline import champion, steps
from core.pipeline.scoring import run_scores
from core.pipeline.steps import Progress
from core.runs import store
from core.runs.results import RetrainReport
from core.settings import Settings


@dataclass(frozen=True)
class TrainResult:
    """A training's outcome.

    Attributes
    ----------
    run : the new run (:class:`core.runs.store.Run`).
    retrain : the retrain report when the new run is a challenger to the current run (None
        when it was trained and made current).
    notes : one plain line per cleaning action the training table needed
        (:func:`core.inputs.validation.quality_notes`).
    database : where the run's scores went in the activation database (one line), or None.
    database_error : why they could not be written (the run and its files are saved either
        way), or None.
    """

    run: store.Run
    retrain: RetrainReport | None
    notes: list[str]
    database: str | None = None
    database_error: str | None = None

    @property
    def run_id(self) -> str:
        """The new run's id."""
        return self.run.run_id

    @property
    def outcome(self) -> str:
        """What became of the run, in a few words ("trained and made current", or the
        challenger's decision and why)."""
        r = self.retrain
        return "trained and made current" if r is None else f"challenger to {r.champion}: {r.decision} ({r.why})"


def train(data: str | Path | None, spec: str | Path | None, settings: Settings, progress: Progress | None = None,
          log: bool = False, sheet: str | None = None) -> TrainResult:
    """Train a new run, safely for the current one (:func:`core.pipeline.champion.train_or_retrain`:
    a challenger when a run of the same data set is current, else the new current run), then
    write its scores to the activation database when the settings say so.

    Parameters
    ----------
    data : a table (CSV, TSV, TXT, xlsx, Parquet), or with ``log`` a transaction log; None:
        the default ShopSphere table (generated when absent).
    spec : its spec TOML (with ``log``: the log spec, required); None: the built-in
        ShopSphere spec (:func:`spec_for_table` drafts one for another table).
    progress : ``(fraction 0..1, message)`` callback.

    Raises
    ------
    DataError
        ``log`` without a spec, a bad spec, file or table, or another training running in
        the same runs folder (the current run is unchanged).
    """
    if log and not spec:
        raise DataError("training on a log needs its log spec (configs/NAME.toml, kind = \"log\")")
    outcome = champion.train_or_retrain(data, spec, settings, progress=progress, log=log, sheet=sheet)
    return _published(outcome.run, outcome.retrain, settings, progress)


def retrain(data: str | Path | None, spec: str | Path | None, settings: Settings, progress: Progress | None = None,
            log: bool = False, sheet: str | None = None) -> TrainResult:
    """The monthly retrain (:func:`core.pipeline.champion.retrain`): a challenger trained
    beside the current run, compared with it, promoted only when the settings allow it and
    it is not worse; its scores written to the activation database.

    Raises DataError as :func:`train`, and when there is no current run to challenge."""
    if log and not spec:
        raise DataError("retraining on a log needs its log spec (configs/NAME.toml, kind = \"log\")")
    report = champion.retrain(data, spec, settings, progress, log=log, sheet=sheet)
    return _published(store.load_run(settings.artifacts_dir, report.challenger), report, settings, progress)


def _published(run: store.Run, report: RetrainReport | None, settings: Settings,
               progress: Progress | None) -> TrainResult:
    """The result of a training whose run ``run`` is saved: its quality notes, and its
    scores written to the activation database when ``write_database`` is on (a database that
    cannot take them is said in the result, never undoing the run)."""
    notes = (note_lines((run.manifest().source or {}).get("notes") or {})
             + validation.quality_notes(run.quality().to_json(), run.metrics().unseen_categories_train, training=True))
    if not settings.write_database:
        return TrainResult(run, report, notes)
    if progress:
        progress(1.0, f"writing the run's scores to {database.shown_url(database.database_url(settings))}")
    try:
        said = database.write_scoring(settings, run_scores(run), store.current_run_id(settings.artifacts_dir))
    except DataError as exc:
        return TrainResult(run, report, notes, database_error=f"{exc}; the run and its files are saved")
    return TrainResult(run, report, notes, database=said)


@dataclass(frozen=True)
class SpecChoice:
    """The spec a table is trained with: ``path`` (None: the built-in ShopSphere spec), and
    when it was drafted from the table, the draft's ``decisions`` (one line each) and where
    it was saved (``saved_to``, None for a temporary file the run keeps a copy of)."""

    path: str | None
    decisions: list[str] = field(default_factory=list)
    saved_to: str | None = None

    @property
    def drafted(self) -> bool:
        """Whether the spec was drafted from the table."""
        return bool(self.decisions)


def spec_for_table(data: str | Path, spec: str | Path | None = None, target: str | None = None,
                   id_column: str | None = None, sheet: str | None = None,
                   save_spec: str | Path | None = None) -> SpecChoice:
    """The spec to train the table ``data`` with: ``spec`` when given; else the built-in
    ShopSphere spec for a ShopSphere table (its id and at least half its features) when no
    ``target``, ``id_column`` or ``save_spec`` asks for a draft, or for a file that does not
    exist (training then names it); else a spec drafted from the table
    (:func:`draft_spec`), written to ``save_spec`` or to a temporary file (the run keeps its
    own copy).

    Raises DataError when ``spec`` is given with ``target``, ``id_column`` or ``save_spec``
    (those draft a spec), or as :func:`draft_spec`."""
    if spec:
        if target or id_column or save_spec:
            raise DataError("--target, --id and --save-spec draft a spec: leave them out with --spec (the spec "
                            "names them)")
        return SpecChoice(str(spec))
    if not (target or id_column or save_spec):
        if not Path(data).exists():
            return SpecChoice(None)  # training names the missing file (after the training lock)
        shop = shopsphere_spec()
        cols = set(tables.read_table(data, shop, sheet).columns)
        # a ShopSphere table, even one lacking a column, is read with its spec (which names what is missing)
        if shop.id_column in cols and len(cols & set(shop.feature_names)) >= len(shop.feature_names) // 2:
            return SpecChoice(None)
    draft = draft_spec(data, target=target, id_column=id_column, sheet=sheet)
    text = spec_draft.spec_toml(draft, Path(data).name)
    if save_spec:
        write_spec(save_spec, text)
        return SpecChoice(str(save_spec), list(draft.decisions), str(save_spec))
    path = Path(tempfile.mkdtemp(prefix="drafted-spec-")) / f"{draft.spec.name}.toml"
    path.write_text(text, encoding="utf-8")
    return SpecChoice(str(path), list(draft.decisions))


def draft_spec(data: str | Path, target: str | None = None, id_column: str | None = None, sheet: str | None = None,
               name: str | None = None) -> spec_draft.Draft:
    """A spec drafted from the table ``data`` (:func:`core.inputs.spec_draft.draft_spec`),
    named ``name`` or after the file; a workbook with several sheets says which was read.

    Raises DataError for an unreadable table, or a target or id the draft cannot use."""
    df = tables.read_table(data, sheet=sheet)
    name = name or re.sub(r"[^A-Za-z0-9_]+", "_", Path(data).stem).strip("_") or "table"
    source = str(data)
    if len(df.attrs.get("sheets", ())) > 1:  # say which sheet was read, and which others there are
        others = [s for s in df.attrs["sheets"] if s != df.attrs["sheet"]]
        source += f" (sheet '{df.attrs['sheet']}'; also {', '.join(repr(s) for s in others)}: choose with --sheet)"
    return spec_draft.draft_spec(df, target=target, id_column=id_column, name=name, source=source)


def write_spec(path: str | Path, text: str) -> Path:
    """Write a spec's TOML (or another text file whose suffix ``check_output_path`` allows:
    ``.toml``), its folder made when missing. Raises DataError naming the path."""
    return write_text(path, text, (".toml",))


def write_text(path: str | Path, text: str, suffixes: tuple[str, ...]) -> Path:
    """Write a text file named with one of ``suffixes``, its folder made when missing.
    Raises DataError naming the path when it cannot be written."""
    out = check_output_path(path, suffixes)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise DataError(f"{out}: cannot write ({exc.strerror or exc})") from None
    return out


@dataclass(frozen=True)
class Generated:
    """What :func:`generate` wrote: ``path`` (and ``attributes`` for a log), ``rows``
    (customers or order lines), a one-line ``summary``, the ``seconds`` it took, and for the
    table its ``purchase_rate`` (the target's mean)."""

    path: Path
    rows: int
    summary: str
    seconds: float
    attributes: Path | None = None
    purchase_rate: float | None = None


def generate(settings: Settings, rows: int | None = None, out: str | Path | None = None, month: int = 0,
             log: bool = False, customers: int = 40_000) -> Generated:
    """Write the embedded default data: the ShopSphere-like customer table (``rows``
    customers, ``month`` months after the base table), or with ``log`` the order log of
    ``customers`` customers and their attributes table beside it. Seeded by the settings.

    Raises DataError for too few rows or customers, a negative month or a bad output path."""
    t0 = time.perf_counter()
    if log:
        if customers < 100:
            raise DataError(f"--customers must be at least 100, got {customers}")
        path = Path(out or "data/shopsphere_log.parquet")
        attrs_out = path.with_name("shopsphere_customers.parquet")
        check_output_path(path)
        df = shopsphere_log.generate_log(customers, settings.seed)
        write_table(df, path)
        write_table(shopsphere_log.attributes(customers, settings.seed), attrs_out)
        summary = (f"{len(df):,} order lines of {customers:,} customers ({df['ordered_at'].min():%Y-%m-%d} to "
                   f"{df['ordered_at'].max():%Y-%m-%d}, {int((df['quantity'] < 0).sum()):,} return lines)")
        return Generated(path, len(df), summary, time.perf_counter() - t0, attrs_out)
    rows = settings.default_rows if rows is None else rows
    if rows < 100:
        raise DataError(f"--rows must be at least 100, got {rows}")
    if month < 0:
        raise DataError(f"--month must be 0 or more, got {month}")
    check_output_path(out or settings.default_data)
    df = shopsphere.generate(rows, settings.seed, month=month)
    path = write_table(df, out or settings.default_data)
    summary = f"{len(df):,} customers{f' (month {month})' if month else ''}"
    return Generated(path, len(df), summary, time.perf_counter() - t0,
                     purchase_rate=float(df["purchased_next_30d"].mean()))


@dataclass(frozen=True)
class TableCheck:
    """A table checked against a spec before training (:func:`check_table`).

    Attributes
    ----------
    table : the table mapped to the spec's column names (n rows).
    quality : the data-quality summary of :func:`core.inputs.validation.validate`.
    notes : its plain-language notes (training notes included).
    positives, negatives : the target's classes.
    trainable : whether both classes reach :data:`core.models.propensity.MIN_CLASS_COUNT`;
        ``why`` says why not (None when trainable).
    """

    table: pd.DataFrame
    quality: dict
    notes: list[str]
    positives: int
    negatives: int
    trainable: bool
    why: str | None


def check_table(table: pd.DataFrame, spec: DatasetSpec, source: str, settings: Settings,
                mapping: dict[str, str | None] | None = None) -> TableCheck:
    """Check a table before training on it, as training would: its columns renamed by
    ``mapping`` (``{spec column: table column or None}``, :func:`core.inputs.tables.map_columns`;
    None: as it is), validated with the target (:func:`core.inputs.validation.validate`),
    whether it has enough of each class to learn from, and training's own split and leakage
    guard (:func:`core.pipeline.steps.split_and_guard`, with ``settings``' seed and
    threshold): a table training would refuse is not trainable here either, ``why`` saying why.

    Raises DataError for a mapping that does not fit the table, or what validation refuses
    (a missing column, text in a number column, a target that is not binary...), naming
    ``source``."""
    if mapping is not None:
        table = tables.map_columns(table.rename(columns=str), mapping, spec, source=source)
    clean, quality = validation.validate(table, spec, require_target=True, source=source)
    y = clean[spec.target]
    pos, neg = int(y.sum()), int(len(y) - y.sum())
    why = None
    if min(pos, neg) < MIN_CLASS_COUNT:
        why = (f"{source}: too little to learn from: {pos:,} positives and {neg:,} negatives (need at least "
               f"{MIN_CLASS_COUNT} of each)")
    else:
        try:  # training's own split and leakage step: a table it would refuse is refused here alike
            steps.split_and_guard(steps.LoadedTable(clean, quality, "", source, y.to_numpy(int)), spec, settings)
        except DataError as exc:
            why = str(exc)
    return TableCheck(table, quality, validation.quality_notes(quality, {}, training=True), pos, neg, why is None,
                      why)
