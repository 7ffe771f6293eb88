"""Writing a run's scores to the activation database: seconds for 240,000 (or --rows) scores.

Takes the scored table of a run (``--artifacts DIR``, its current run: the default 240K run)
or, without one, a generated scoring of ``--rows`` customers, and writes it with
:meth:`core.activation.database.Database.write_scores` to each database asked for: the embedded DuckDB
file and PostgreSQL (``--pg``, a SQLAlchemy URL of a server; a fresh database is made on it
and dropped afterwards). Each write is timed twice: the first fills an empty table, the
second replaces the same scoring (the idempotent rewrite). Then it reads the view
``scores_current`` back and checks the row count.

Usage::

    python -m benchmarks.bench_sinks [--artifacts DIR] [--rows 240000]
                                     [--pg postgresql+psycopg://postgres@127.0.0.1:5432]
"""
from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from benchmarks.records import Record, command_line
from core.activation import database
from core.pipeline.scoring import run_scores
from core.runs import store


def _generated(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "customer_id": [f"C{i:07d}" for i in range(rows)], "segment_id": rng.integers(0, 7, rows),
        "segment_name": rng.choice(["Rare visitors", "Deal-seeking, email-clicking", "Recent buyers"], rows),
        "propensity": rng.random(rows), "propensity_decile": rng.integers(1, 11, rows),
        "reason_1": "Last purchase 12 days ago", "reason_2": "3 orders in the last 90 days",
        "reason_3": "Opens most emails", "run_id": "20261206-000000-000000", "scored_at": "2026-12-06T00:00:00+00:00"})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--artifacts", default=None, help="runs folder whose current run's scores are written")
    ap.add_argument("--rows", type=int, default=240_000, help="without --artifacts: generated scores")
    ap.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432", help="PostgreSQL server ('' = skip)")
    args = ap.parse_args()
    if args.artifacts:
        run = store.load_run(Path(args.artifacts))
        scored = run_scores(run)
        what = f"run {run.run_id}'s scored table"
    else:
        scored = _generated(args.rows)
        what = "a generated scoring"
    rows = []
    targets = [("DuckDB file", f"duckdb:///{Path(tempfile.mkdtemp()) / 'activation.duckdb'}", None)]
    if args.pg:
        name = f"shopsphere_bench_{secrets.token_hex(4)}"
        admin = sa.create_engine(f"{args.pg}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.exec_driver_sql(f"CREATE DATABASE {name}")
        targets.append(("PostgreSQL", f"{args.pg}/{name}", (admin, name)))
    for label, url, cleanup in targets:
        try:
            db = database.Database(url)
            times = []
            for _ in range(2):
                t0 = time.perf_counter()
                db.write_scores(scored, current=scored["run_id"].iloc[0])
                times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            n = int(db.query("SELECT count(*) AS n FROM scores_current")["n"].iloc[0])
            read = time.perf_counter() - t0
            db.close()
            rows.append({"database": label, f"write {len(scored):,} scores (s)": f"{times[0]:.1f}",
                         "rows per second": f"{len(scored) / times[0]:,.0f}",
                         "rewrite of the same scoring (s)": f"{times[1]:.1f}",
                         "rows in scores_current": f"{n:,}", "read back (s)": f"{read:.1f}"})
        finally:
            if cleanup is not None:
                admin, name = cleanup
                with admin.connect() as c:
                    c.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                admin.dispose()
    record = Record("sinks", "Writing scores to the activation database", command_line())
    record.note(f"{len(scored):,} scores ({what}), written twice to each database: the first fills an empty table, "
                "the second replaces the same scoring (the idempotent rewrite). Target: under 30 s.")
    record.table("Writes", rows)
    record.write()
    return 0


if __name__ == "__main__":
    sys.exit(main())
