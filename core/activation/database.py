"""The activation database: scores and cohorts where the marketing tools read them.

Marketers act in their email, ads and CRM tools, which pick up an audience from a table.
Every scoring (the CLI's ``score``, the training table of a new run, the app's scoring of a
file) and every cohort saved from the Cohort builder can be written to a database: an
embedded DuckDB file ``<artifacts>/activation.duckdb`` by default, or any SQLAlchemy URL in
the settings (``database_url``; PostgreSQL through psycopg first). The tables, made when
missing, are the same everywhere:

    scores          run_id, customer_id, segment, persona, propensity, decile, reasons
                    (a JSON array of up to 3 texts), scored_at (UTC timestamp: one per
                    scoring)
    cohorts         cohort_id, name, run_id, filters (JSON text), created_at
    cohort_members  cohort_id, customer_id, group_name ('contact' or 'holdout')
    current_run     run_id, since: the run the product serves (one row)
    scores_current  a view: each customer's latest score from the current run

Writes are idempotent and atomic: a scoring is identified by (run_id, scored_at) and a
cohort by a hash of its run, name, filters and members, and each write deletes that
scoring's (cohort's) rows and inserts them again in one transaction, so writing the same
scoring twice gives the same rows, and a write that fails leaves the rows as they were.
Bulk rows go in through PostgreSQL's ``COPY`` (psycopg) or DuckDB's scan of a DataFrame;
another database gets batched ``INSERT``s (SQLAlchemy's ``executemany``).

Bad input or a database that cannot be reached or refuses a write raises one
:class:`~core.errors.DataError` naming the URL without its password.
"""
from __future__ import annotations

import hashlib
import json
import threading
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from core.errors import DataError, first_line

#: The default database file under the runs folder.
DEFAULT_FILE = "activation.duckdb"
#: Seconds a write waits for a DuckDB file that another process holds.
LOCK_WAIT_S = 30.0
#: The longest customer id and cohort name the tables take (characters; ``VARCHAR(200)``).
MAX_TEXT = 200
#: The key of the PostgreSQL advisory lock that serialises the product's writers (:func:`_one_writer`).
WRITER_LOCK = 7_401_127_203
#: Serialises the cohort writers of this process (see ``write_cohort``).
_IN_PROCESS_WRITER = threading.Lock()
SCORE_COLUMNS = ["run_id", "customer_id", "segment", "persona", "propensity", "decile", "reasons", "scored_at"]
MEMBER_COLUMNS = ["cohort_id", "customer_id", "group_name"]

metadata = sa.MetaData()
scores = sa.Table(
    "scores", metadata,
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("customer_id", sa.String(200), nullable=False),
    sa.Column("segment", sa.Integer, nullable=False),
    sa.Column("persona", sa.String(200)),
    sa.Column("propensity", sa.Float, nullable=False),
    sa.Column("decile", sa.Integer),
    sa.Column("reasons", sa.Text),
    sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("scores_run_customer", "run_id", "customer_id"),
)
cohorts = sa.Table(
    "cohorts", metadata,
    sa.Column("cohort_id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("filters", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
cohort_members = sa.Table(
    "cohort_members", metadata,
    sa.Column("cohort_id", sa.String(32), nullable=False),
    sa.Column("customer_id", sa.String(200), nullable=False),
    sa.Column("group_name", sa.String(16), nullable=False),
    sa.Index("cohort_members_cohort", "cohort_id"),
)
current_run = sa.Table(
    "current_run", metadata,
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("since", sa.DateTime(timezone=True), nullable=False),
)

#: Each customer's latest score from the current run (standard SQL: PostgreSQL and DuckDB).
SCORES_CURRENT = """
CREATE OR REPLACE VIEW scores_current AS
SELECT run_id, customer_id, segment, persona, propensity, decile, reasons, scored_at
FROM (SELECT s.run_id, s.customer_id, s.segment, s.persona, s.propensity, s.decile, s.reasons, s.scored_at,
             ROW_NUMBER() OVER (PARTITION BY s.customer_id ORDER BY s.scored_at DESC) AS latest
      FROM scores s JOIN current_run c ON s.run_id = c.run_id) ranked
WHERE latest = 1
"""


def database_url(settings) -> str:
    """The settings' ``database_url``, or the embedded DuckDB file under the runs folder."""
    if settings.database_url:
        return settings.database_url
    return f"duckdb:///{(Path(settings.artifacts_dir) / DEFAULT_FILE).resolve()}"


def shown_url(url: str) -> str:
    """``url`` without its password (given before the host or as a ``password`` query
    parameter), as errors and messages show it."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        return "(a database URL that cannot be read)"
    hidden = {k: "***" for k in parsed.query if k.lower() in ("password", "passwd", "pwd")}
    if hidden:
        parsed = parsed.update_query_dict(hidden)
    return parsed.render_as_string(hide_password=True).replace("%2A%2A%2A", "***")


class Database:
    """A connection pool to the activation database, its tables made when missing; a context
    manager that closes it on exit (``with connect(settings) as db: ...``).

    Parameters
    ----------
    url : SQLAlchemy URL (``duckdb:///path``, ``postgresql+psycopg://user@host/db``...).

    Raises
    ------
    DataError
        The URL cannot be read, names a driver that is not installed, or the database
        cannot be reached or refuses to make the tables (the message names the URL without
        its password).
    """

    def __init__(self, url: str):
        self.url = url
        self.shown = shown_url(url)
        try:
            parsed = sa.engine.make_url(url)
            if parsed.get_backend_name() == "duckdb" and parsed.database not in (None, "", ":memory:"):
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            if parsed.get_backend_name() == "duckdb":  # one process may hold a DuckDB file: open it per use
                self.engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
            else:
                self.engine = sa.create_engine(url, pool_pre_ping=True)
        except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
            raise DataError(f"database {self.shown}: cannot use this URL ({_reason(exc)})") from None
        self._guard("make the tables", self._create)

    def _create(self) -> None:
        with self.engine.begin() as conn:
            metadata.create_all(conn)
            conn.exec_driver_sql(SCORES_CURRENT)

    def _guard(self, what: str, fn, *args):
        """``fn(*args)``, a database error raised as one DataError line. A DuckDB file that
        another process holds (DuckDB lets one process write a file at a time: the app and
        a job may meet), or a DuckDB transaction that conflicts with another of the same
        process (two app sessions; DuckDB's concurrency is optimistic: the later one fails), is
        tried again for up to :data:`LOCK_WAIT_S` seconds."""
        import time

        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                return fn(*args)
            except DataError:
                raise
            except Exception as exc:
                ours = isinstance(exc, (sa.exc.SQLAlchemyError, OSError)) or type(exc).__module__.split(".")[0] in (
                    "duckdb", "psycopg", "psycopg2", "sqlite3")  # a driver's own error outside SQLAlchemy's
                if not ours:
                    raise
                busy = any(w in _reason(exc).lower() for w in ("lock", "conflict"))
                if busy and self.engine.dialect.name == "duckdb" and time.monotonic() < deadline:
                    time.sleep(0.2)
                    continue
                raise DataError(f"database {self.shown}: could not {what} ({_reason(exc)})") from None

    # -- writing ---------------------------------------------------------------------------
    def write_scores(self, scored: pd.DataFrame, current: str | None = None) -> int:
        """Write one scoring: ``scored`` as :meth:`core.pipeline.scoring.ScoringModel.score` returns it
        (``customer_id``, ``segment_id``, ``segment_name``, ``propensity``,
        ``propensity_decile``, ``reason_1..3``, ``run_id``, ``scored_at``; every row one run
        and one ``scored_at``). A customer's row of this run and ``scored_at`` is replaced
        when it is written again (idempotent), and only that customer's: two files scored
        with one run in the same second (``scored_at`` is to the second) keep both their
        customers. The rows go first into a temporary table, then replace and join the
        ``scores`` rows in one transaction, with ``current_run`` set to ``current`` when
        given. Returns the rows written.

        Raises DataError for a table that is not one scoring, or as :class:`Database`."""
        rows = score_rows(scored)
        run_id, at = rows["run_id"].iloc[0], rows["scored_at"].iloc[0]
        cols = ", ".join(SCORE_COLUMNS)

        def go():
            with self.engine.begin() as conn:
                _one_writer(conn)
                conn.exec_driver_sql("DROP TABLE IF EXISTS scores_staging")
                conn.exec_driver_sql(f"CREATE TEMPORARY TABLE scores_staging AS SELECT {cols} FROM scores WHERE 1 = 0")
                _bulk(conn, "scores_staging", rows)
                if conn.dialect.name == "postgresql":
                    conn.exec_driver_sql("ANALYZE scores_staging")  # row count and customers for the planner
                conn.execute(sa.text(_replace_sql(conn.dialect.name)), {"r": run_id, "t": at})
                conn.exec_driver_sql(f"INSERT INTO scores ({cols}) SELECT {cols} FROM scores_staging")
                conn.exec_driver_sql("DROP TABLE scores_staging")
                if current is not None:
                    _set_current(conn, current)
        self._guard("write the scores", go)
        return len(rows)

    def write_cohort(self, export: pd.DataFrame, name: str, run_id: str, filters: dict) -> str:
        """Save a cohort (:func:`core.activation.cohorts.cohort_export`: ``customer_id`` and ``group``)
        with its name, run and the filters that made it (JSON-safe dict: segments,
        propensity range, feature filters, holdout design). Its id is a hash of all of them,
        so saving the same cohort twice gives the same rows. Names are unique: a sync tool
        may select a campaign's members by name, and two cohorts under one name would mix
        one's holdout into the other's contacts. Returns the cohort id.

        Raises DataError for an empty name, a name another cohort has, a table without
        ``customer_id`` and ``group``, or as :class:`Database`."""
        if not str(name).strip():
            raise DataError("a cohort needs a name")
        if len(str(name).strip()) > MAX_TEXT:
            raise DataError(f"the cohort name is {len(str(name).strip())} characters long: at most {MAX_TEXT}")
        missing = [c for c in ("customer_id", "group") if c not in export.columns]
        if missing:
            raise DataError(f"the cohort table has no column {missing[0]}")
        members = pd.DataFrame({"customer_id": export["customer_id"].astype(str).to_numpy(),
                                "group_name": export["group"].astype(str).to_numpy()})
        _check_ids(members["customer_id"], "the cohort")
        bad = sorted(set(members["group_name"]) - {"contact", "holdout"})
        if bad:
            raise DataError(f"the cohort's group column holds '{bad[0]}' (expected contact or holdout)")
        text = json.dumps(filters, sort_keys=True, default=str)
        digest = hashlib.sha256()
        for part in (run_id, str(name).strip(), text):
            digest.update(part.encode("utf-8") + b"\0")
        digest.update(pd.util.hash_pandas_object(members, index=False).to_numpy().tobytes())
        cohort_id = digest.hexdigest()[:16]
        members.insert(0, "cohort_id", cohort_id)

        def go():
            # DuckDB lets two threads of one process check the name at once; the lock makes check and insert one
            # step there (on PostgreSQL the advisory lock of _one_writer does, across processes too)
            with _IN_PROCESS_WRITER, self.engine.begin() as conn:
                _one_writer(conn)
                other = conn.execute(sa.select(cohorts.c.cohort_id, cohorts.c.run_id).where(
                    cohorts.c.name == str(name).strip(), cohorts.c.cohort_id != cohort_id)).first()
                if other is not None:  # a tool reading members by name would mix the two (and their holdouts)
                    raise DataError(f"database {self.shown}: a cohort named '{str(name).strip()}' exists already "
                                    f"(cohort {other[0]}, run {other[1]}) with other members or filters: choose "
                                    "another name")
                have = conn.execute(sa.select(cohorts.c.cohort_id).where(cohorts.c.cohort_id == cohort_id)).first()
                if have is None:
                    conn.execute(cohorts.insert().values(cohort_id=cohort_id, name=str(name).strip(), run_id=run_id,
                                                         filters=text, created_at=datetime.now(timezone.utc)))
                conn.execute(cohort_members.delete().where(cohort_members.c.cohort_id == cohort_id))
                _bulk(conn, "cohort_members", members)
        self._guard("save the cohort", go)
        return cohort_id

    def set_current(self, run_id: str) -> None:
        """Record ``run_id`` as the run the product serves (``current_run``; the view
        ``scores_current`` follows it)."""
        def go():
            with self.engine.begin() as conn:
                _one_writer(conn)
                _set_current(conn, run_id)
        self._guard("record the current run", go)

    # -- reading ---------------------------------------------------------------------------
    def cohort(self, cohort_id: str) -> tuple[dict, pd.DataFrame]:
        """A saved cohort: ``(its row as a dict, members with customer_id and group)``.
        Raises DataError when there is no such cohort."""
        def go():
            with self.engine.connect() as conn:
                row = conn.execute(sa.select(cohorts).where(cohorts.c.cohort_id == str(cohort_id))).mappings().first()
                if row is None:
                    raise DataError(f"database {self.shown}: no cohort '{cohort_id}'")
                got = conn.execute(sa.select(cohort_members.c.customer_id, cohort_members.c.group_name)
                                   .where(cohort_members.c.cohort_id == str(cohort_id))).fetchall()
            members = pd.DataFrame(got, columns=["customer_id", "group"])
            return {**dict(row), "filters": json.loads(row["filters"])}, members
        return self._guard("read the cohort", go)

    def cohorts(self) -> pd.DataFrame:
        """Saved cohorts, newest first: ``cohort_id``, ``name``, ``run_id``, ``created_at``,
        ``customers``, ``holdout``."""
        def go():
            q = (sa.select(cohorts.c.cohort_id, cohorts.c.name, cohorts.c.run_id, cohorts.c.created_at,
                           sa.func.count(cohort_members.c.customer_id).label("customers"),
                           sa.func.sum(sa.case((cohort_members.c.group_name == "holdout", 1), else_=0)).label("holdout"))
                 .select_from(cohorts.outerjoin(cohort_members, cohorts.c.cohort_id == cohort_members.c.cohort_id))
                 .group_by(cohorts.c.cohort_id, cohorts.c.name, cohorts.c.run_id, cohorts.c.created_at)
                 .order_by(cohorts.c.created_at.desc(), cohorts.c.cohort_id))
            with self.engine.connect() as conn:
                return pd.DataFrame(conn.execute(q).fetchall(),
                                    columns=["cohort_id", "name", "run_id", "created_at", "customers", "holdout"])
        return self._guard("list the cohorts", go)

    def query(self, sql: str) -> pd.DataFrame:
        """The rows of a read-only ``sql`` (for tests, benchmarks and the SQL examples of
        ``docs/guide/activation.md``)."""
        def go():
            with self.engine.connect() as conn:
                res = conn.exec_driver_sql(sql)
                return pd.DataFrame(res.fetchall(), columns=list(res.keys()))
        return self._guard("read", go)

    def close(self) -> None:
        """Close the pool's connections (a DuckDB file is then free for another process)."""
        self.engine.dispose()

    def __enter__(self) -> "Database":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def score_rows(scored: pd.DataFrame) -> pd.DataFrame:
    """The ``scores`` rows of one scoring (see :meth:`Database.write_scores`): ids as text,
    ``reasons`` a JSON array of the non-empty reasons, ``scored_at`` a UTC timestamp.
    Raises DataError when a column is missing, or the rows are of several runs or times."""
    need = ["customer_id", "segment_id", "propensity", "run_id", "scored_at"]
    missing = [c for c in need if c not in scored.columns]
    if missing:
        raise DataError(f"the scored table has no column {missing[0]}")
    if scored.empty:
        raise DataError("the scored table has no rows")
    if scored["run_id"].nunique() != 1 or scored["scored_at"].nunique() != 1:
        raise DataError("the scored table holds several scorings (run_id and scored_at must be one each)")
    reason_cols = [c for c in ("reason_1", "reason_2", "reason_3") if c in scored.columns]
    if reason_cols:
        texts = scored[reason_cols].astype(object).where(scored[reason_cols].notna(), None).to_numpy()
        reasons = [json.dumps([r for r in row if r not in (None, "")], ensure_ascii=False) for row in texts]
    else:
        reasons = ["[]"] * len(scored)
    _check_ids(scored["customer_id"], "the scored table")
    at = pd.Timestamp(scored["scored_at"].iloc[0])
    at = at.tz_localize("UTC") if at.tzinfo is None else at.tz_convert("UTC")
    decile = scored["propensity_decile"] if "propensity_decile" in scored.columns else pd.Series(np.nan, scored.index)
    persona = scored["segment_name"].astype(str) if "segment_name" in scored.columns else pd.Series(None, scored.index)
    return pd.DataFrame({
        "run_id": scored["run_id"].astype(str).to_numpy(),
        "customer_id": scored["customer_id"].astype(str).to_numpy(),
        "segment": scored["segment_id"].astype("int64").to_numpy(),
        "persona": persona.to_numpy(object),
        "propensity": scored["propensity"].astype(float).to_numpy(),
        "decile": pd.array(decile, dtype="Int64"),
        "reasons": reasons,
        "scored_at": pd.Series([at.to_pydatetime()] * len(scored), dtype="datetime64[us, UTC]").to_numpy(),
    })


def _check_ids(ids: pd.Series, what: str) -> None:
    """Raise DataError naming the first row (1-based) whose customer id is longer than
    :data:`MAX_TEXT` characters (PostgreSQL would refuse it; DuckDB would not)."""
    long = ids.astype(str).str.len().to_numpy() > MAX_TEXT
    if long.any():
        i = int(np.flatnonzero(long)[0])
        raise DataError(f"{what}: row {i + 1}: the customer id is {len(str(ids.iloc[i]))} characters long: at most "
                        f"{MAX_TEXT}")


def _replace_sql(dialect: str) -> str:
    """The DELETE of the ``scores`` rows that ``scores_staging`` replaces (same run,
    ``scored_at`` and customer). PostgreSQL and DuckDB get a join (``DELETE ... USING``,
    which PostgreSQL plans as a hash join; its ``IN (subquery)`` form over an unanalysed
    temporary table of a full scoring's rows ran far too long); others the standard
    ``IN (subquery)``."""
    if dialect in ("postgresql", "duckdb"):
        return ("DELETE FROM scores USING scores_staging WHERE scores.run_id = :r AND scores.scored_at = :t "
                "AND scores.customer_id = scores_staging.customer_id")
    return ("DELETE FROM scores WHERE run_id = :r AND scored_at = :t AND customer_id IN "
            "(SELECT customer_id FROM scores_staging)")


def _one_writer(conn) -> None:
    """Serialise this transaction with every other writer of the product on the database.
    PostgreSQL: a transaction-level advisory lock (``pg_advisory_xact_lock``, released at
    commit or rollback), so two processes writing the same scoring, or two cohorts under
    one name, at the same moment cannot both pass the delete-then-insert or the name check
    (seen: a scoring written twice side by side gave every row twice). DuckDB lets one
    process write a file at a time already; other databases rely on their isolation."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": WRITER_LOCK})


def _set_current(conn, run_id: str) -> None:
    """``current_run`` := ``run_id``, its ``since`` kept when it is current already."""
    have = conn.execute(sa.select(current_run.c.run_id)).first()
    if have is not None and have[0] == run_id:
        return
    conn.execute(current_run.delete())
    conn.execute(current_run.insert().values(run_id=run_id, since=datetime.now(timezone.utc)))


def _bulk(conn, table: str, df: pd.DataFrame) -> None:
    """Insert ``df`` (columns named as the table's) into ``table`` inside the connection's
    transaction: PostgreSQL through psycopg's ``COPY``, DuckDB by scanning the DataFrame,
    any other database by batched ``INSERT``s."""
    cols = list(df.columns)
    dialect, driver = conn.dialect.name, conn.dialect.driver
    raw = conn.connection.driver_connection
    if dialect == "duckdb":
        view = f"_bulk_{table}"
        raw.register(view, df)
        try:
            conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(cols)} FROM {view}")
        finally:
            raw.unregister(view)
        return
    records = df.astype(object).where(df.notna(), None).to_numpy().tolist()
    if dialect == "postgresql" and driver == "psycopg":
        with raw.cursor().copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
            for rec in records:
                copy.write_row(rec)
        return
    target = metadata.tables.get(table)
    if target is None:  # a temporary staging table
        target = sa.table(table, *(sa.column(c) for c in cols))
    for start in range(0, len(records), 10_000):
        conn.execute(target.insert(), [dict(zip(cols, r)) for r in records[start:start + 10_000]])


def _reason(exc: BaseException) -> str:
    """The first line of a database error, without SQLAlchemy's background link."""
    return first_line(getattr(exc, "orig", None) or exc).split("(Background on this error")[0].strip()


def connect(settings) -> Database:
    """The activation database of ``settings`` (:func:`database_url`). Raises DataError as
    :class:`Database`."""
    return Database(database_url(settings))


def write_scoring(settings, scored: pd.DataFrame, current_run: str | None) -> str:
    """Write one scoring to the settings' database (:func:`connect`), ``current_run`` (the
    runs folder's current run id, or None) recorded in the same transaction. Returns a
    one-line message ("wrote 240,000 scores of run R to URL"). Raises DataError as
    :class:`Database`."""
    with connect(settings) as db:
        n = db.write_scores(scored, current_run)
    return f"wrote {n:,} scores of run {scored['run_id'].iloc[0]} to {db.shown} (table scores)"


def sync_current(settings, rid: str | None) -> str | None:
    """Record ``rid``, the runs folder's current run, in the settings' database (after a
    promote or a roll back), when ``write_database`` is on and there is a current run.
    Returns a one-line message, or None when nothing was written. Raises DataError as
    :class:`Database`."""
    if not settings.write_database or rid is None:
        return None
    with connect(settings) as db:
        db.set_current(rid)
    return f"{db.shown}: current run {rid}"
