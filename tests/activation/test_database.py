"""The activation database (issue 18): the same tests on an embedded DuckDB file and on a
real PostgreSQL server (127.0.0.1:5432, trust authentication; ``.ci/run`` starts it when it
does not answer). Each PostgreSQL test gets a database of its own, dropped afterwards."""
import os
import secrets
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from core.activation import database
from core.errors import DataError
from tests.support import REPO

PG_SERVER = os.environ.get("SHOPSPHERE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")


def _pg_available() -> bool:
    try:
        with sa.create_engine(f"{PG_SERVER}/postgres").connect():
            return True
    except Exception:
        return False


@pytest.fixture(params=["duckdb", "postgresql"])
def url(request, tmp_path):
    if request.param == "duckdb":
        yield f"duckdb:///{tmp_path / 'activation.duckdb'}"
        return
    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL does not answer at {PG_SERVER} (CI starts it: .ci/run)")
        pytest.skip(f"PostgreSQL does not answer at {PG_SERVER}")
    name = f"shopsphere_test_{secrets.token_hex(4)}"
    admin = sa.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f"CREATE DATABASE {name}")
    yield f"{PG_SERVER}/{name}"
    with admin.connect() as c:
        c.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


def _scoring(run_id="20261206-100000-abcdef", at="2026-12-06T10:00:00+00:00", n=500, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "customer_id": [f"C{i:05d}" for i in range(n)], "segment_id": rng.integers(0, 5, n),
        "segment_name": "Persona", "propensity": rng.random(n), "propensity_decile": rng.integers(1, 11, n),
        "reason_1": "Last purchase 3 days ago", "reason_2": None, "reason_3": "Opens emails",
        "run_id": run_id, "scored_at": at})


def test_a_scoring_written_twice_gives_the_same_rows_and_scores_current_follows_the_current_run(url):
    db = database.Database(url)
    a = _scoring()
    assert db.write_scores(a, current=a["run_id"].iloc[0]) == 500
    db.write_scores(a, current=a["run_id"].iloc[0])                                 # idempotent
    got = db.query("SELECT * FROM scores ORDER BY customer_id")
    assert len(got) == 500 and list(got.columns) == database.SCORE_COLUMNS
    assert got["propensity"].to_numpy() == pytest.approx(a["propensity"].to_numpy())
    assert got["segment"].tolist() == a["segment_id"].tolist() and got["decile"].tolist() == a["propensity_decile"].tolist()
    assert got["reasons"].iloc[0] == '["Last purchase 3 days ago", "Opens emails"]'
    # a later scoring of the same run replaces each customer's current score; another run's does not show
    later = _scoring(at="2026-12-07T10:00:00+00:00", n=200, seed=1)
    other = _scoring(run_id="20261207-100000-123456", n=500, seed=2)
    db.write_scores(later, current=a["run_id"].iloc[0])
    db.write_scores(other)
    assert db.query("SELECT count(*) AS n FROM scores")["n"].iloc[0] == 1200
    cur = db.query("SELECT * FROM scores_current ORDER BY customer_id").set_index("customer_id")
    assert len(cur) == 500 and set(cur["run_id"]) == {a["run_id"].iloc[0]}
    newer = later.set_index("customer_id")["propensity"]
    assert cur.loc[newer.index, "propensity"].to_numpy() == pytest.approx(newer.to_numpy())
    db.set_current(other["run_id"].iloc[0])                                          # a promotion
    assert set(db.query("SELECT run_id FROM scores_current")["run_id"]) == {other["run_id"].iloc[0]}
    db.close()


def test_a_failed_write_leaves_the_previous_rows(url, monkeypatch):
    db = database.Database(url)
    a = _scoring()
    db.write_scores(a, current=a["run_id"].iloc[0])
    again = a.assign(propensity=0.5)
    real_bulk = database._bulk

    def fails_after_inserting(conn, table, df):   # the database gives up halfway through the write
        real_bulk(conn, table, df.iloc[:250])
        raise sa.exc.OperationalError("INSERT", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(database, "_bulk", fails_after_inserting)
    with pytest.raises(DataError, match=r"^database .*: could not write the scores \(server closed the connection"):
        db.write_scores(again)
    monkeypatch.setattr(database, "_bulk", real_bulk)
    got = db.query("SELECT customer_id, propensity FROM scores ORDER BY customer_id")
    assert len(got) == 500 and got["propensity"].to_numpy() == pytest.approx(a["propensity"].to_numpy())
    with pytest.raises(DataError, match=r"the scored table: row 1: the customer id is 300 characters long: at most 200"):
        db.write_scores(a.assign(customer_id=["x" * 300] + a["customer_id"].tolist()[1:]))
    if url.startswith("postgresql"):              # and a write the server itself refuses: a NUL in an id
        with pytest.raises(DataError, match=r"could not write the scores \("):
            db.write_scores(a.assign(customer_id=["x\x00y"] + a["customer_id"].tolist()[1:]))
    assert db.query("SELECT count(*) AS n FROM scores")["n"].iloc[0] == 500
    db.close()


def test_a_cohort_saved_twice_is_one_cohort_and_reads_back(url):
    db = database.Database(url)
    export = pd.DataFrame({"customer_id": [f"C{i}" for i in range(300)],
                           "group": ["holdout" if i % 3 == 0 else "contact" for i in range(300)]})
    filters = {"segments": [1, 2], "min_propensity": 0.3, "holdout_design": {"relative_lift": 0.1}}
    cid = db.write_cohort(export, "December win-back", "20261206-100000-abcdef", filters)
    assert db.write_cohort(export, "December win-back", "20261206-100000-abcdef", filters) == cid
    listed = db.cohorts()
    assert listed[["cohort_id", "name", "customers", "holdout"]].values.tolist() == [[cid, "December win-back", 300, 100]]
    meta, members = db.cohort(cid)
    assert meta["filters"] == filters and meta["run_id"] == "20261206-100000-abcdef"
    assert members.sort_values("customer_id").reset_index(drop=True).equals(
        export.sort_values("customer_id").reset_index(drop=True))
    other = db.write_cohort(export.head(100), "December win-back, first 100", "20261206-100000-abcdef", filters)
    assert other != cid and len(db.cohorts()) == 2
    with pytest.raises(DataError, match="no cohort 'nope'"):
        db.cohort("nope")
    with pytest.raises(DataError, match="group column holds 'control'"):
        db.write_cohort(export.assign(group="control"), "x", "r", {})
    db.close()


def test_an_unreachable_database_is_one_line_without_the_password():
    with pytest.raises(DataError, match=r"^database postgresql\+psycopg://shop:\*\*\*@127\.0\.0\.1:1/x: could not "
                                        r"make the tables \(") as err:
        database.Database("postgresql+psycopg://shop:hunter2@127.0.0.1:1/x")
    assert "hunter2" not in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(DataError, match="cannot use this URL"):
        database.Database("nosuchdriver://x")


def test_the_cli_writes_its_scoring_to_the_database_and_a_failing_database_keeps_the_file(trained, tmp_path,
                                                                                          small_table):
    import shutil

    src, run = trained
    art = tmp_path / "artifacts"
    shutil.copytree(src, art)
    (art / "activation.duckdb").unlink(missing_ok=True)   # other tests may have written the shared run's scores
    data = tmp_path / "new.csv"
    small_table.drop(columns=["purchased_next_30d"]).head(300).to_csv(data, index=False)
    cmd = [sys.executable, "-m", "core", "--artifacts", str(art), "score", "--data", str(data)]
    out = subprocess.run(cmd + ["--out", str(tmp_path / "a.csv")], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert f"wrote 300 scores of run {run.run_id} to duckdb:///" in out.stdout
    db = database.Database(f"duckdb:///{art / 'activation.duckdb'}")
    cur = db.query("SELECT count(*) AS n FROM scores_current")["n"].iloc[0]
    db.close()
    assert cur == 300    # this scoring, of the current run
    settings = tmp_path / "settings.toml"
    settings.write_text('database_url = "postgresql+psycopg://shop:hunter2@127.0.0.1:1/x"\n')
    bad = subprocess.run([sys.executable, "-m", "core", "--settings", str(settings), "--artifacts", str(art), "score",
                          "--data", str(data), "--out", str(tmp_path / "b.csv")], cwd=REPO, capture_output=True,
                         text=True)
    assert bad.returncode == 2 and (tmp_path / "b.csv").is_file()
    assert bad.stderr.strip().splitlines()[-1].startswith("error: database postgresql+psycopg://shop:***@127.0.0.1:1/x")
    assert "hunter2" not in bad.stderr and "the scored file was written" in bad.stderr


def test_two_files_scored_in_the_same_second_keep_both_their_customers(url):
    db = database.Database(url)
    a = _scoring(n=400)
    first, second = a.iloc[:200], a.iloc[200:]           # one run, one scored_at (to the second), two files
    db.write_scores(first, current=a["run_id"].iloc[0])
    db.write_scores(second)
    db.write_scores(second)                               # and one of them again: still replaced, not doubled
    got = db.query("SELECT customer_id FROM scores ORDER BY customer_id")["customer_id"].tolist()
    assert got == sorted(a["customer_id"].tolist())
    db.close()


def test_a_cohort_name_is_one_cohort(url):
    db = database.Database(url)
    export = pd.DataFrame({"customer_id": [f"C{i}" for i in range(10)], "group": ["contact"] * 8 + ["holdout"] * 2})
    db.write_cohort(export, "Winter", "r1", {})
    with pytest.raises(DataError, match=r"a cohort named 'Winter' exists already .* choose another name"):
        db.write_cohort(export.assign(group="contact"), "Winter", "r1", {})
    assert len(db.cohorts()) == 1
    db.close()


def test_a_password_in_the_query_string_is_hidden_too():
    assert database.shown_url("postgresql+psycopg://h:5432/x?user=u&password=secretpw") == \
        "postgresql+psycopg://h:5432/x?password=***&user=u"
    assert database.shown_url("postgresql+psycopg://u:secretpw@h/x") == "postgresql+psycopg://u:***@h/x"


def test_writers_at_the_same_moment_neither_duplicate_rows_nor_share_a_name(url):
    """Three threads write the same scoring at once (one scored_at): each customer once.
    Four threads save different cohorts under one name at once: one is saved, the others
    refused. (On PostgreSQL the product's advisory lock serialises them; DuckDB lets one
    writer in at a time and the others wait.)"""
    from concurrent.futures import ThreadPoolExecutor

    db = database.Database(url)
    a = _scoring()
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda _: database.Database(url).write_scores(a), range(3)))
    got = db.query("SELECT count(*) AS n, count(DISTINCT customer_id) AS d FROM scores")
    assert got["n"].iloc[0] == got["d"].iloc[0] == len(a)

    def save(k):
        export = pd.DataFrame({"customer_id": [f"C{k}-{i}" for i in range(50)], "group": ["contact"] * 50})
        try:
            return database.Database(url).write_cohort(export, "Race", "run-1", {})
        except DataError as exc:
            return str(exc)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(save, range(4)))
    refused = [r for r in results if "a cohort named 'Race' exists already" in r]
    assert len(refused) == 3, results
    assert db.query("SELECT count(*) AS n FROM cohorts WHERE name = 'Race'")["n"].iloc[0] == 1
    with pytest.raises(DataError, match="the cohort name is 201 characters long: at most 200"):
        db.write_cohort(pd.DataFrame({"customer_id": ["a"], "group": ["contact"]}), "n" * 201, "run-1", {})
    db.close()


def test_current_run_since_is_when_the_run_became_current(url):
    db = database.Database(url)
    a = _scoring()
    db.write_scores(a, current=a["run_id"].iloc[0])
    since = db.query("SELECT since FROM current_run")["since"].iloc[0]
    db.write_scores(a.assign(scored_at=pd.Timestamp("2030-01-01", tz="UTC")), current=a["run_id"].iloc[0])
    assert db.query("SELECT since FROM current_run")["since"].iloc[0] == since
    db.close()
