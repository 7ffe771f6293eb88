"""The command line's arguments: one parser, its commands added by concern.

The global flags (``--settings``, ``--artifacts``, ``--seed``) are accepted before and after
the command (``python -m core train --seed 3``).
"""
from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_SETTINGS = Path("configs/default.toml")


class _Parser(argparse.ArgumentParser):
    """argparse's parser, with its mistakes said in one line (``error: ...``, exit code 2) as
    every other bad input is, instead of the usage text and a second line."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see: {self.prog} --help)\n")


def _global_flags(p: argparse.ArgumentParser, default) -> None:
    p.add_argument("--settings", default=default,
                   help=f"settings TOML (default: {DEFAULT_SETTINGS} when present, else built-in defaults)")
    p.add_argument("--artifacts", default=default, help="runs folder (default from settings: artifacts)")
    p.add_argument("--seed", type=int, default=default, help="the one random seed (default from settings: 42)")


def parser() -> argparse.ArgumentParser:
    """The parser of ``python -m core``: every command and its flags."""
    p = _Parser(prog="python -m core",
                                description="ShopSphere customer intelligence: segments and purchase propensity.")
    _global_flags(p, None)
    # The same flags are accepted after the command too (python -m core train --seed 3).
    common = _Parser(add_help=False)
    _global_flags(common, argparse.SUPPRESS)
    sub = p.add_subparsers(dest="command", required=True)
    _training(sub, common)
    _scoring(sub, common)
    _campaigns(sub, common)
    _runs(sub, common)
    return p


def _training(sub, common) -> None:
    """generate, train, spec draft, retrain, check."""
    g = sub.add_parser("generate", parents=[common], help="write the default ShopSphere-like table")
    g.add_argument("--rows", type=int, default=None, help="customers (default 240000)")
    g.add_argument("--out", default=None, help="CSV or Parquet path (default data/shopsphere.parquet)")
    g.add_argument("--month", type=int, default=0, help="the same customers N months later (default 0: the base table)")
    g.add_argument("--log", action="store_true",
                   help="write the ShopSphere-like order log instead (data/shopsphere_log.parquet, its customer "
                        "attributes data/shopsphere_customers.parquet; spec configs/shopsphere_log.toml)")
    g.add_argument("--customers", type=int, default=40_000, help="with --log: customers (default 40000)")

    t = sub.add_parser("train", parents=[common],
                       help="train a run (segments + propensity): made current when no run of this data set is; "
                            "otherwise a challenger to the current run, as retrain")
    t.add_argument("--data", default=None, help="CSV or Parquet table (default: the generated ShopSphere table)")
    t.add_argument("--log", default=None, help="a transaction log (CSV, TSV, TXT, Parquet or a folder of parts) "
                                               "instead of a table; --spec is then its log spec")
    t.add_argument("--spec", default=None, help="TOML spec of the table or log (default: the built-in ShopSphere "
                                                "spec for a ShopSphere table; drafted from the data for any other)")
    t.add_argument("--target", default=None, help="without --spec: the target column of the drafted spec")
    t.add_argument("--id", default=None, help="without --spec: the id column of the drafted spec (default: a unique "
                                              "column named like an id, else the row number)")
    t.add_argument("--sheet", default=None, help="an Excel workbook's sheet (name or 0-based number; default the first)")
    t.add_argument("--save-spec", default=None, help="without --spec: also write the drafted spec here "
                                                     "(configs/NAME.toml)")

    sp = sub.add_parser("spec", parents=[common], help="draft a spec from a table: python -m core spec draft DATA")
    sp_sub = sp.add_subparsers(dest="spec_command", required=True)
    dr_ = sp_sub.add_parser("draft", parents=[common], help="write a commented TOML spec drafted from a table")
    dr_.add_argument("data", help="the table (CSV, TSV, TXT, Excel .xlsx or Parquet)")
    dr_.add_argument("--target", default=None, help="the target column (default: the one binary column named like a "
                                                    "response, purchase, conversion or churn)")
    dr_.add_argument("--id", default=None, help="the id column (default: a unique column named like an id, else the "
                                                "row number)")
    dr_.add_argument("--sheet", default=None, help="an Excel workbook's sheet (default the first)")
    dr_.add_argument("--name", default=None, help="the data set's name (default: the file name)")
    dr_.add_argument("--out", default=None, help="where to write it (default: print it)")

    rt = sub.add_parser("retrain", parents=[common],
                        help="train a challenger, compare it with the current run, promote only if configured and not worse")
    rt.add_argument("--data", default=None, help="the new CSV or Parquet table (default: the generated ShopSphere table)")
    rt.add_argument("--log", default=None, help="a transaction log instead of a table (with its log spec as --spec)")
    rt.add_argument("--spec", default=None, help="TOML spec of the table (default: built-in ShopSphere spec)")

    ck = sub.add_parser("check", parents=[common], help="check a table against a spec before training: rows, "
                                                      "positive rate, what cleaning it needs, whether it can train")
    ck.add_argument("--data", required=True, help="the table (CSV, TSV, TXT, Excel .xlsx or Parquet)")
    ck.add_argument("--spec", default=None, help="TOML spec of the table (default: the built-in ShopSphere spec for "
                                                 "a ShopSphere table; drafted from the data for any other)")
    ck.add_argument("--target", default=None, help="without --spec: the target column of the drafted spec")
    ck.add_argument("--id", default=None, help="without --spec: the id column of the drafted spec")
    ck.add_argument("--sheet", default=None, help="an Excel workbook's sheet (name or 0-based number)")


def _scoring(sub, common) -> None:
    """score, value, drift, backtest."""
    s = sub.add_parser("score", parents=[common], help="score a table with the current run")
    s.add_argument("--data", default=None, help="CSV, Excel .xlsx or Parquet table, or a folder of Parquet parts "
                                                "(no target needed)")
    s.add_argument("--sheet", default=None, help="an Excel workbook's sheet (name or 0-based number; default the first)")
    s.add_argument("--log", default=None, help="a transaction log instead of a table, for a run built from a log: "
                                               "features as of --cutoff, read with the run's log spec")
    s.add_argument("--cutoff", default=None, help="with --log: the date features are built before (yyyy-mm-dd; "
                                                  "default: the day after the last event)")
    s.add_argument("--out", default=None, help="output .csv or .parquet (default: scores_<run id>_<UTC date>.parquet "
                                               "in this folder)")
    _run_options(s)
    s.add_argument("--spec", default=None, help="TOML spec the table follows; refused unless it is the run's own "
                                                "(default: the run's spec)")
    s.add_argument("--engine", choices=["pandas", "dask"], default="pandas",
                   help="pandas: this process, in chunks (default); dask: map_partitions over a Parquet data set "
                        "on a Dask cluster")
    s.add_argument("--scheduler", default=None, help="with --engine dask: scheduler address (default: a LocalCluster)")
    s.add_argument("--workers", type=int, default=2, help="with --engine dask and no --scheduler: local workers")
    s.add_argument("--no-db", action="store_true", help="write the file only, not the activation database (default: "
                                                        "both, as the settings' write_database says)")

    va = sub.add_parser("value", parents=[common], help="each customer's expected spend and orders, P(a purchase) "
                                                      "and churn risk from a transaction log, with the BTYD peers")
    va.add_argument("--log", required=True, help="the transaction log (CSV, Excel or Parquet)")
    va.add_argument("--spec", required=True, help="its log spec (TOML, kind = \"log\")")
    va.add_argument("--cutoff", default=None, help="as of this date (yyyy-mm-dd; default: the day after the last event); "
                                                  "lines on or after it are not read")
    va.add_argument("--horizon", type=int, default=365, help="days of expected spend and orders (default 365)")
    va.add_argument("--churn", type=int, default=90, help="days of the purchase probability and churn risk (default 90)")
    va.add_argument("--out", default=None, help="output .csv or .parquet (default: value_<UTC date>.parquet here)")

    dr = sub.add_parser("drift", parents=[common], help="PSI drift of a new table against the run's training table")
    dr.add_argument("--data", required=True, help="CSV or Parquet table with the run's feature columns")
    _run_options(dr)
    bt = sub.add_parser("backtest", parents=[common], help="compare a past scoring with the purchases that followed")
    bt.add_argument("--scores", required=True, help="a scored table written by 'score' (CSV or Parquet)")
    bt.add_argument("--outcomes", required=True, help="CSV or Parquet: customer id and the realised 0/1 outcome")
    bt.add_argument("--target", default=None, help="outcome column (default: the scoring run's target)")


def _campaigns(sub, common) -> None:
    """cohort, readout."""
    co = sub.add_parser("cohort", parents=[common], help="build a cohort from the current run's scores, with a "
                                                       "holdout sized for an uplift; write it to a CSV and the database")
    co.add_argument("--name", required=True, help="the cohort's name (in the database's cohorts table)")
    co.add_argument("--segments", default=None, help="segment ids, comma-separated (default: every segment)")
    co.add_argument("--min-propensity", type=float, default=0.0)
    co.add_argument("--max-propensity", type=float, default=1.0)
    co.add_argument("--band", choices=["high", "medium", "low"], default=None,
                    help="only this propensity band of the matrix (high: deciles 1-3, medium: 4-7, low: 8-10)")
    co.add_argument("--action", default=None, help="the playbook action the cohort is for (a column of the export)")
    co.add_argument("--holdout-for", type=float, default=None, help="size a random holdout to detect this relative "
                                                                    "uplift (0.10 = +10%%; alpha 0.05, power 0.8)")
    co.add_argument("--out", default=None, help="the cohort CSV (default: cohort_<run id>_<UTC date>.csv)")
    _run_options(co)
    co.add_argument("--no-db", action="store_true", help="write the CSV only")

    ro = sub.add_parser("readout", parents=[common], help="a campaign's readout: contact against holdout, uplift "
                                                         "with 95%% intervals, per segment and band, power, calibration")
    ro.add_argument("--cohort", default=None, help="the cohort as exported (CSV, xlsx or Parquet: customer_id, group)")
    ro.add_argument("--cohort-id", default=None, help="or a cohort saved in the activation database")
    ro.add_argument("--outcomes", default=None, help="customer id, purchase flag and revenue over the campaign window")
    ro.add_argument("--id", default=None, help="the outcomes' customer id column (default: found by name)")
    ro.add_argument("--purchased", default=None, help="the outcomes' purchase flag column (default: found by name)")
    ro.add_argument("--revenue", default=None, help="the outcomes' revenue column (default: found by name; optional)")
    ro.add_argument("--log", default=None, help="or a transaction log (for a run built from a log): purchases in "
                                                "--window")
    ro.add_argument("--window", nargs=2, metavar=("START", "END"), default=None,
                    help="with --log: the campaign window [START, END) as yyyy-mm-dd")
    ro.add_argument("--sized-for", type=float, default=None, help="the relative uplift the holdout was sized for "
                                                                   "(default: as the saved cohort says)")
    _run_options(ro, "the cohort's run (default: as the saved cohort says, else the current run)")
    ro.add_argument("--out", default=None, help="also write the readout JSON here")


def _runs(sub, common) -> None:
    """jobs, runs, promote, rollback, report."""
    jb = sub.add_parser("jobs", parents=[common], help="background jobs started from the app: list them, cancel one")
    jb_sub = jb.add_subparsers(dest="jobs_command")
    jb_sub.add_parser("list", parents=[common], help="every job, newest first (the default)")
    jc = jb_sub.add_parser("cancel", parents=[common], help="stop a queued or running job")
    jc.add_argument("job_id")
    jr = jb_sub.add_parser("run", parents=[common], help="carry out a job (what the app's job process runs)")
    jr.add_argument("job_id")
    sub.add_parser("runs", parents=[common], help="list the runs with their metrics, newest first (column current)")
    pr = sub.add_parser("promote", parents=[common], help="make a run the current one of its data set (the champion)")
    pr.add_argument("run_id", help="the run's id, e.g. 20261129-134859-fa7f61")
    pr.add_argument("--default", action="store_true",
                    help="also make its data set the default one, what every page and command shows first")
    rb = sub.add_parser("rollback", parents=[common], help="return to the champion before the current run")
    rb.add_argument("--dataset", default=None, help="the data set to roll back (default: the default data set)")
    rp = sub.add_parser("report", parents=[common], help="the stakeholder report of a run (HTML or Markdown)")
    _run_options(rp)
    rp.add_argument("--out", required=True, help="report.html (self-contained) or report.md (Markdown)")


def _run_options(p, run_help: str = "run id (default: the current run of the default data set)") -> None:
    """``--run RUN_ID`` or ``--dataset NAME`` (that data set's current run), not both."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--run", default=None, help=run_help)
    g.add_argument("--dataset", default=None, help="use this data set's current run (python -m core runs lists them)")
