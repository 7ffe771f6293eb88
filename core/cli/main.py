"""Command line: ``python -m core generate|train|retrain|score|spec draft|runs|jobs|promote|rollback|drift|backtest|cohort|readout|report``.

Bad input (a :class:`~core.errors.DataError`) prints one line ``error: ...`` to stderr and
exits with code 2; the current run is never changed by a failed command.
"""
from __future__ import annotations

import argparse
import logging
import re
import sys
import time
from pathlib import Path

from core.errors import DataError
from core.settings import load_settings

DEFAULT_SETTINGS = Path("configs/default.toml")


def _progress(fraction: float, message: str) -> None:
    print(f"[{100 * fraction:5.1f}%] {message}", flush=True)


def _global_flags(p: argparse.ArgumentParser, default) -> None:
    p.add_argument("--settings", default=default,
                   help=f"settings TOML (default: {DEFAULT_SETTINGS} when present, else built-in defaults)")
    p.add_argument("--artifacts", default=default, help="runs folder (default from settings: artifacts)")
    p.add_argument("--seed", type=int, default=default, help="the one random seed (default from settings: 42)")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core", description="ShopSphere customer intelligence: segments and purchase propensity.")
    _global_flags(p, None)
    # The same flags are accepted after the command too (python -m core train --seed 3).
    common = argparse.ArgumentParser(add_help=False)
    _global_flags(common, argparse.SUPPRESS)
    sub = p.add_subparsers(dest="command", required=True)

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
    s.add_argument("--run", default=None, help="run id (default: the current run)")
    s.add_argument("--spec", default=None, help="TOML spec the table follows; refused unless it is the run's own "
                                                "(default: the run's spec)")
    s.add_argument("--engine", choices=["pandas", "dask"], default="pandas",
                   help="pandas: this process, in chunks (default); dask: map_partitions over a Parquet data set "
                        "on a Dask cluster")
    s.add_argument("--scheduler", default=None, help="with --engine dask: scheduler address (default: a LocalCluster)")
    s.add_argument("--workers", type=int, default=2, help="with --engine dask and no --scheduler: local workers")
    s.add_argument("--no-db", action="store_true", help="write the file only, not the activation database (default: "
                                                        "both, as the settings' write_database says)")

    jb = sub.add_parser("jobs", parents=[common], help="background jobs started from the app: list them, cancel one")
    jb_sub = jb.add_subparsers(dest="jobs_command")
    jb_sub.add_parser("list", parents=[common], help="every job, newest first (the default)")
    jc = jb_sub.add_parser("cancel", parents=[common], help="stop a queued or running job")
    jc.add_argument("job_id")
    jr = jb_sub.add_parser("run", parents=[common], help="carry out a job (what the app's job process runs)")
    jr.add_argument("job_id")
    sub.add_parser("runs", parents=[common], help="list the runs with their metrics, newest first (column current)")
    pr = sub.add_parser("promote", parents=[common], help="make a run the current one (the champion)")
    pr.add_argument("run_id", help="the run's id, e.g. 20261129-134859-fa7f61")
    sub.add_parser("rollback", parents=[common], help="return to the champion before the current run")
    dr = sub.add_parser("drift", parents=[common], help="PSI drift of a new table against the run's training table")
    dr.add_argument("--data", required=True, help="CSV or Parquet table with the run's feature columns")
    dr.add_argument("--run", default=None, help="run id (default: the current run)")
    rp = sub.add_parser("report", parents=[common], help="the stakeholder report of a run (HTML or Markdown)")
    rp.add_argument("--run", default=None, help="run id (default: the current run)")
    rp.add_argument("--out", required=True, help="report.html (self-contained) or report.md (Markdown)")
    bt = sub.add_parser("backtest", parents=[common], help="compare a past scoring with the purchases that followed")
    bt.add_argument("--scores", required=True, help="a scored table written by 'score' (CSV or Parquet)")
    bt.add_argument("--outcomes", required=True, help="CSV or Parquet: customer id and the realised 0/1 outcome")
    bt.add_argument("--target", default=None, help="outcome column (default: the scoring run's target)")

    co = sub.add_parser("cohort", parents=[common], help="build a cohort from the current run's scores, with a "
                                                       "holdout sized for an uplift; write it to a CSV and the database")
    co.add_argument("--name", required=True, help="the cohort's name (in the database's cohorts table)")
    co.add_argument("--segments", default=None, help="segment ids, comma-separated (default: every segment)")
    co.add_argument("--min-propensity", type=float, default=0.0)
    co.add_argument("--max-propensity", type=float, default=1.0)
    co.add_argument("--holdout-for", type=float, default=None, help="size a random holdout to detect this relative "
                                                                    "uplift (0.10 = +10%%; alpha 0.05, power 0.8)")
    co.add_argument("--out", default=None, help="the cohort CSV (default: cohort_<run id>_<UTC date>.csv)")
    co.add_argument("--run", default=None, help="run id (default: the current run)")
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
    ro.add_argument("--run", default=None, help="the cohort's run (default: as the saved cohort says, else current)")
    ro.add_argument("--out", default=None, help="also write the readout JSON here")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 2 bad input)."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings_path = args.settings or (DEFAULT_SETTINGS if DEFAULT_SETTINGS.is_file() else None)
        settings = load_settings(settings_path, seed=args.seed, artifacts_dir=args.artifacts)
        commands = {"generate": _generate, "train": _train, "spec": lambda a, s: _spec_draft(a), "score": _score,
                    "retrain": _retrain, "report": _report, "backtest": _backtest, "drift": _drift,
                    "runs": lambda a, s: _runs(s), "jobs": _jobs, "cohort": _cohort, "readout": _readout}
        if args.command in commands:
            return commands[args.command](args, settings)
        if args.command == "promote":
            from core.runs import champions
            previous = champions.promote(settings.artifacts_dir, args.run_id)
            print(f"run {args.run_id} is now current (was {previous or 'none'})")
            _sync_database(settings)
        if args.command == "rollback":
            from core.runs import champions
            print(f"rolled back: run {champions.rollback(settings.artifacts_dir)} is now current")
            _sync_database(settings)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; the current run is unchanged", file=sys.stderr)
        return 130
    return 0


def _jobs(args, settings) -> int:
    from core.ops import jobs

    if args.jobs_command == "run":
        return jobs.run(settings.artifacts_dir, args.job_id)
    if args.jobs_command == "cancel":
        job = jobs.cancel(settings.artifacts_dir, args.job_id)
        print(f"asked job {job.job_id} ({job.label}) to stop")
        return 0
    rows = jobs.list_jobs(settings.artifacts_dir)
    if not rows:
        print(f"no jobs in {jobs.jobs_dir(settings.artifacts_dir)}")
    for j in rows:
        what = {"done": j.outcome or j.run_id or "", "failed": j.error or "", "running": f"{j.fraction:.0%} {j.step}"}
        print(f"{j.job_id}  {j.status:<11} {j.label}  {what.get(j.status, '')}".rstrip())
    return 0


def _generate(args, settings) -> int:
    from core.activation.exports import check_output_path, write_table
    from core.inputs.synthetic import shopsphere

    if args.log:
        return _generate_log(args, settings)
    rows = args.rows or settings.default_rows
    if rows < 100:
        raise DataError(f"--rows must be at least 100, got {rows}")
    check_output_path(args.out or settings.default_data)
    t0 = time.perf_counter()
    if args.month < 0:
        raise DataError(f"--month must be 0 or more, got {args.month}")
    df = shopsphere.generate(rows, settings.seed, month=args.month)
    out = write_table(df, args.out or settings.default_data)
    print(f"wrote {len(df):,} customers{f' (month {args.month})' if args.month else ''} to {out} in "
          f"{time.perf_counter() - t0:.1f} s "
          f"(purchase rate {df['purchased_next_30d'].mean():.3f})")
    return 0


def _generate_log(args, settings) -> int:
    from core.activation.exports import check_output_path, write_table
    from core.inputs.synthetic import shopsphere_log

    if args.customers < 100:
        raise DataError(f"--customers must be at least 100, got {args.customers}")
    out = Path(args.out or "data/shopsphere_log.parquet")
    attrs_out = out.with_name("shopsphere_customers.parquet")
    check_output_path(out)
    t0 = time.perf_counter()
    df = shopsphere_log.generate_log(args.customers, settings.seed)
    attrs = shopsphere_log.attributes(args.customers, settings.seed)
    write_table(df, out)
    write_table(attrs, attrs_out)
    print(f"wrote {len(df):,} order lines of {args.customers:,} customers ({df['ordered_at'].min():%Y-%m-%d} to "
          f"{df['ordered_at'].max():%Y-%m-%d}, {int((df['quantity'] < 0).sum()):,} return lines) to {out} and their "
          f"attributes to {attrs_out} in {time.perf_counter() - t0:.1f} s; train with: python -m core train --log {out} "
          f"--spec configs/shopsphere_log.toml")
    return 0


def _train(args, settings) -> int:
    from core.inputs.validation import quality_notes
    from core.pipeline.champion import train_or_retrain

    if args.log and (args.data or not args.spec):
        raise DataError("train --log LOG needs --spec configs/NAME.toml (a log spec) and no --data")
    if args.spec and (args.target or args.id or args.save_spec):
        raise DataError("--target, --id and --save-spec draft a spec: leave them out with --spec (the spec names them)")
    spec_path = args.spec
    if args.data and not args.spec:
        spec_path = _draft_for_training(args)
    outcome = train_or_retrain(args.log or args.data, spec_path, settings, progress=_progress, log=bool(args.log),
                               sheet=args.sheet)
    _print_database(outcome)
    if outcome.retrain is not None:
        return _print_retrain(outcome.retrain)
    run = outcome.run
    m = run.metrics()
    for line in quality_notes(run.quality().to_json(), m.unseen_categories_train, training=True):
        print(f"note: {line}", file=sys.stderr)
    x, lr, seg = m.xgboost, m.logistic, m.segmentation
    src = run.manifest().source
    if src:
        print(f"built from the log {src['path']}: {src['events']:,} lines of {src['customers']:,} customers, "
              f"{len(src['cutoffs'])} cutoffs, {src['horizon_days']}-day label window")
        for w in src["windows"]:
            print(f"  {w}")
    print(f"run {run.run_id}: {seg.n_segments} segments ({seg.method}"
          + (f"; {seg.fallback_reason}" if seg.fallback_reason else "") + "); "
          f"test ROC-AUC XGBoost {x.roc_auc:.3f} / logistic {lr.roc_auc:.3f}; "
          f"PR-AUC (average precision) XGBoost {x.pr_auc:.3f} / logistic {lr.pr_auc:.3f}")
    if m.bgnbd is not None:
        d = m.paired_differences["bgnbd"]
        print(f"BG/NBD on the same test rows: ROC-AUC {m.bgnbd.roc_auc:.3f}, PR-AUC {m.bgnbd.pr_auc:.3f}; "
              f"XGBoost - BG/NBD: ROC-AUC {d['roc_auc'][0]:+.3f} [{d['roc_auc'][1]:+.3f}, {d['roc_auc'][2]:+.3f}], "
              f"PR-AUC {d['pr_auc'][0]:+.3f} [{d['pr_auc'][1]:+.3f}, {d['pr_auc'][2]:+.3f}]")
    boot = seg.bootstrap_ari
    print(f"segments: stability (bootstrap ARI) {'n/a' if boot is None else f'{boot:.2f}'}, "
          f"rules reproduce {seg.surrogate_fidelity:.0%}")
    link = run.continuity()
    if link.previous_run:
        status = list(link.status.values())
        print(f"matched to run {link.previous_run}: {status.count('matched')} segments kept their id, "
              f"{status.count('new')} new, {len(link.retired)} retired")
    return 0


def _sync_database(settings) -> None:
    """Tell the activation database which run is current now (its view ``scores_current``
    follows); a database that cannot take it is a warning: the promotion stands."""
    from core.activation import database
    from core.runs import store

    try:
        said = database.sync_current(settings, store.current_run_id(settings.artifacts_dir))
    except DataError as exc:
        print(f"warning: {exc}; scores_current still shows the previous run", file=sys.stderr)
        return
    if said:
        print(f"activation database {said}")


def _print_database(outcome) -> None:
    """Say where a new run's scores went (or why they could not be written)."""
    if outcome.database:
        print(outcome.database)
    if outcome.database_error:
        print(f"warning: {outcome.database_error}", file=sys.stderr)


def _draft(args):
    from core.inputs import spec_draft, tables
    df = tables.read_table(args.data, sheet=args.sheet)
    name = getattr(args, "name", None) or re.sub(r"[^A-Za-z0-9_]+", "_", Path(args.data).stem).strip("_") or "table"
    source = str(args.data)
    if len(df.attrs.get("sheets", ())) > 1:  # say which sheet was read, and which others there are
        others = [s for s in df.attrs["sheets"] if s != df.attrs["sheet"]]
        source += f" (sheet '{df.attrs['sheet']}'; also {', '.join(repr(s) for s in others)}: choose with --sheet)"
    return spec_draft.draft_spec(df, target=args.target, id_column=args.id, name=name, source=source)


def _write_text(path: str, text: str, suffixes: tuple[str, ...] = (".toml",)) -> None:
    """Write a text file (a spec; a readout's JSON) named with one of ``suffixes``, its
    folder made when missing; DataError naming the path if it cannot be."""
    from core.activation.exports import check_output_path

    out = check_output_path(path, suffixes)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise DataError(f"{out}: cannot write ({exc.strerror or exc})") from None


def _spec_draft(args) -> int:
    from core.inputs import spec_draft

    draft = _draft(args)
    text = spec_draft.spec_toml(draft, Path(args.data).name)
    if args.out:
        _write_text(args.out, text)
        print(f"wrote the drafted spec to {args.out}:", file=sys.stderr)
        for line in draft.decisions:
            print(f"  {line}", file=sys.stderr)
    else:
        print(text, end="")
    return 0


def _draft_for_training(args) -> str | None:
    """The spec path to train ``args.data`` with when no --spec is given: None (the built-in
    ShopSphere spec) for a ShopSphere table (its id and at least half its features) without
    --target/--id, or a file that does not exist (training names it), else a drafted spec,
    written to --save-spec or to a temporary file (the run keeps its own copy)."""
    import tempfile

    from core.inputs import spec_draft, tables
    from core.inputs.shopsphere_spec import shopsphere_spec

    if not (args.target or args.id or args.save_spec):
        if not Path(args.data).exists():
            return None  # training names the missing file (after the training lock)
        shop = shopsphere_spec()
        cols = set(tables.read_table(args.data, shop, args.sheet).columns)
        # a ShopSphere table, even one lacking a column, is read with its spec (which names what is missing)
        if shop.id_column in cols and len(cols & set(shop.feature_names)) >= len(shop.feature_names) // 2:
            return None
    draft = _draft(args)
    print("no --spec given: drafted one from the data (python -m core spec draft writes it to a file to edit):")
    for line in draft.decisions:
        print(f"  {line}")
    text = spec_draft.spec_toml(draft, Path(args.data).name)
    if args.save_spec:
        _write_text(args.save_spec, text)
        print(f"  saved to {args.save_spec}")
        return args.save_spec
    folder = Path(tempfile.mkdtemp(prefix="drafted-spec-"))
    path = folder / f"{draft.spec.name}.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def _score(args, settings) -> int:
    from core.activation.exports import check_output_path, write_table
    from core.inputs import tables, validation
    from core.inputs.shopsphere_spec import resolve_spec
    from core.pipeline.scoring import OUTPUT_NAMES, ScoringModel
    from core.runs import store

    if bool(args.data) == bool(args.log):
        raise DataError("score needs one of --data TABLE or --log LOG" + (", not both" if args.data else ""))
    if args.cutoff and not args.log:
        raise DataError("--cutoff goes with --log")
    if args.log and args.spec:
        raise DataError("score --log reads the log with the run's own log spec: leave out --spec")
    run = store.load_run(settings.artifacts_dir, args.run)
    if args.data and (run.manifest().source or {}).get("kind") == "log":
        raise DataError(f"run {run.run_id} was built from a log: score it with --log LOG [--cutoff DATE]")
    if args.out is None:
        from datetime import datetime, timezone

        args.out = f"scores_{run.run_id}_{datetime.now(timezone.utc):%Y-%m-%d}.parquet"
    check_output_path(args.out)
    t0 = time.perf_counter()
    # loaded once, before the table is read: a spec other than the run's fails here
    model = ScoringModel.load(run, resolve_spec(args.spec) if args.spec else None)
    if args.engine == "dask":
        from core.pipeline.dask_scoring import score_dask

        scored = score_dask(model, args.data, args.scheduler, args.workers)
        out = write_table(scored.rename(columns=OUTPUT_NAMES), args.out)
        print(f"scored {len(scored):,} customers with run {run.run_id} on Dask "
              f"({args.scheduler or f'LocalCluster, {args.workers} workers'}) in {time.perf_counter() - t0:.1f} s -> {out}")
        return _scores_to_database(args, settings, scored)
    if args.log:
        if args.engine != "pandas":
            raise DataError("score --log builds features in this process: use --engine pandas")
        raw, note = _log_features(run, args.log, args.cutoff)
        args.data = args.log
        print(f"features of {len(raw):,} customers as of {note['cutoff']} from the log {args.log}"
              + (f" ({note['events_after_cutoff_ignored']:,} lines on or after the cutoff ignored)"
                 if note["events_after_cutoff_ignored"] else ""), file=sys.stderr)
        if note.get("days_after_the_log_ends"):
            print(f"note: the cutoff lies {note['days_after_the_log_ends']:,} days after the log ends: customers are "
                  "scored as if none of them bought in between", file=sys.stderr)
    else:
        raw = tables.read_table(args.data, model.spec, args.sheet)  # the spec's id column is read as text
    from tqdm import tqdm

    with tqdm(total=len(raw), unit=" rows", desc="scoring", file=sys.stderr, disable=None) as bar:
        scored, report = model.score(raw, source=args.data, n_jobs=settings.n_jobs,
                                     progress=lambda done, total: bar.update(done - bar.n))
    out = write_table(scored.rename(columns=OUTPUT_NAMES), args.out)
    print(f"scored {len(scored):,} customers with run {run.run_id} in {time.perf_counter() - t0:.1f} s -> {out}")
    for line in validation.quality_notes(report["quality"], report["unseen_categories"]):
        print(f"note: {line}", file=sys.stderr)
    return _scores_to_database(args, settings, scored)


def _scores_to_database(args, settings, scored) -> int:
    """Write a scoring to the activation database (:mod:`core.activation.database`) unless ``--no-db``
    or the settings say not to; returns the exit code: 2 when the database could not take
    it (the file is written either way)."""
    from core.activation import database
    from core.runs import store

    if args.no_db or not settings.write_database:
        return 0
    try:
        print(database.write_scoring(settings, scored, store.current_run_id(settings.artifacts_dir)))
    except DataError as exc:
        print(f"error: {exc}; the scored file was written", file=sys.stderr)
        return 2
    return 0


def _run_log_spec(run, instead: str):
    """The :class:`core.inputs.log.LogSpec` a run built from a log was trained with (its manifest's
    source). Raises DataError for a run built from a table, saying what to do ``instead``."""
    from core.inputs import log

    src = run.manifest().source or {}
    if src.get("kind") != "log" or "log_spec" not in src:
        raise DataError(f"run {run.run_id} was trained on a table, not a log: {instead}")
    raw_spec = dict(src["log_spec"])
    raw_spec["cutoffs"] = tuple(raw_spec.get("cutoffs") or ())
    return log.LogSpec(**raw_spec)


def _log_features(run, log_path, cutoff):
    """The scoring table of a log for a run built from a log (its saved log spec and
    channel levels), as of ``cutoff``. Raises DataError for a run built from a table."""
    from core.inputs import log
    from core.pipeline import log_table

    src = run.manifest().source or {}
    spec = _run_log_spec(run, "score it with --data")
    ev, notes = log.events(log.read_log(log_path, spec), spec, str(log_path))
    for key, value in notes.items():
        print(f"note: {key.replace('_', ' ')}: {value:,}"
              + (" (they made no purchase, so they are not scored)" if key == "customers_with_only_returns" else ""),
              file=sys.stderr)
    table, note = log_table.scoring_table(ev, spec, cutoff, src.get("channels") or [], log.read_attributes(spec))
    model_spec = run.spec()  # candidate features the run judged unhelpful are not its inputs
    keep = {model_spec.id_column, model_spec.snapshot_column, *model_spec.feature_names, *model_spec.evaluation_columns}
    return table[[c for c in table.columns if c in keep]], note


def _runs(settings) -> int:
    from core.runs import store

    table = store.run_history(settings.artifacts_dir)
    if table.empty:
        print(f"no runs in {settings.artifacts_dir}")
        return 0
    print(table.to_string(index=False, na_rep="-", float_format=lambda v: f"{v:.3f}"))
    return 0


def _drift(args, settings) -> int:
    from core.inputs import tables
    from core.ops.monitoring import drift_against_run
    from core.runs import reports, store

    run = store.load_run(settings.artifacts_dir, args.run)
    raw = tables.read_table(args.data, run.spec())
    report = drift_against_run(run, raw, source=args.data, n_jobs=settings.n_jobs)
    path = reports.save_monitoring(settings.artifacts_dir, run.run_id, "drift", report)
    s = report["summary"]
    print(f"drift of {args.data} ({report['rows']['new']:,} rows) against run {run.run_id} "
          f"({report['rows']['train']:,} rows): {s['act']} features to act on (PSI >= 0.25), {s['watch']} to watch "
          f"(>= 0.1), {s['ok']} stable; score PSI {report['score']['psi']:.3f} ({report['score']['flag']}); "
          f"segment shares PSI {report['segments_psi']:.3f}")
    print(f"{'feature':<28} {'PSI':>7} {'flag':>6} {'missing train':>14} {'missing new':>12}")
    for r in report["features"]:
        print(f"{r['feature']:<28} {r['psi']:>7.3f} {r['flag']:>6} {r['missing_train']:>14.1%} {r['missing_new']:>12.1%}")
    print(f"report: {path}")
    return 0


def _cohort(args, settings) -> int:
    from datetime import datetime, timezone

    from core.activation import cohorts, database
    from core.activation.exports import check_output_path, write_table
    from core.runs import store

    if not args.name.strip():
        raise DataError("--name: a cohort needs a name (the tools select its members by it)")
    if len(args.name.strip()) > database.MAX_TEXT:
        raise DataError(f"--name: {len(args.name.strip())} characters: a cohort name has at most {database.MAX_TEXT}")
    if args.holdout_for is not None and not 0 < args.holdout_for <= 10:
        raise DataError(f"--holdout-for {args.holdout_for}: the relative uplift to detect, between 0 and 10 "
                        "(0.10 = +10%)")
    run = store.load_run(settings.artifacts_dir, args.run)
    scored = run.table("scored")
    scored, _, _ = cohorts.latest_snapshot(scored)
    segments = None
    if args.segments:
        try:
            segments = [int(x) for x in args.segments.split(",")]
        except ValueError:
            raise DataError(f"--segments {args.segments}: segment ids are whole numbers, comma-separated") from None
        unknown = sorted(set(segments) - set(scored["segment_id"].astype(int)))
        if unknown:
            raise DataError(f"--segments: run {run.run_id} has no segment {unknown[0]}")
    mask = cohorts.cohort_mask(scored, segments, args.min_propensity, args.max_propensity)
    summary = cohorts.cohort_summary(scored, mask)
    if summary["customers"] == 0:
        raise DataError("no customer matches: widen the propensity range or add segments")
    holdout, design = 0, None
    if args.holdout_for is not None:
        try:
            design = cohorts.holdout_design(summary, args.holdout_for)
        except ValueError:
            raise DataError(f"--holdout-for {args.holdout_for}: a {100 * args.holdout_for:+.3g}% uplift on the cohort's "
                            f"expected rate of {summary['expected_precision']:.1%} would pass 100%: choose a smaller "
                            "uplift") from None
        holdout, need = design.pop("holdout"), design["needed_per_group"]
        if holdout < need:
            print(f"warning: the cohort holds {summary['customers']:,} customers; a {100 * args.holdout_for:+.3g}% "
                  f"uplift needs {need:,} per group: the holdout is capped at half the cohort ({holdout:,} customers "
                  "not contacted) and will not reach 80% power; a larger uplift or a larger cohort needs fewer",
                  file=sys.stderr)
    export = cohorts.cohort_export(scored, mask, holdout, settings.seed)
    out = check_output_path(args.out or f"cohort_{run.run_id}_{datetime.now(timezone.utc):%Y-%m-%d}.csv", (".csv",))
    write_table(export, out)
    print(f"cohort '{args.name}': {len(export):,} customers ({holdout:,} held out) of run {run.run_id} -> {out}")
    if args.no_db or not settings.write_database:
        return 0
    filters = {"segments": segments, "min_propensity": args.min_propensity, "max_propensity": args.max_propensity,
               "holdout_design": design, "seed": settings.seed}
    try:
        with database.connect(settings) as db:
            cid = db.write_cohort(export, args.name, run.run_id, filters)
    except DataError as exc:
        print(f"error: {exc}; the cohort file was written", file=sys.stderr)
        return 2
    print(f"saved as cohort {cid} in {db.shown} (tables cohorts, cohort_members)")
    return 0


def _readout(args, settings) -> int:
    import json

    from core.activation import campaign_tables, database, readout
    from core.activation.exports import check_output_path
    from core.runs import reports, store

    if bool(args.cohort) == bool(args.cohort_id):
        raise DataError("readout needs one of --cohort FILE or --cohort-id ID")
    if bool(args.outcomes) == bool(args.log):
        raise DataError("readout needs one of --outcomes FILE or --log LOG --window START END"
                        + (", not both" if args.log else ""))
    if args.sized_for is not None and not 0 < args.sized_for <= 10:
        raise DataError(f"--sized-for {args.sized_for}: the relative uplift the holdout was sized for, between 0 "
                        "and 10 (0.10 = +10%)")
    if args.out:
        check_output_path(args.out, (".json",))
    design, run_id = None, args.run
    if args.cohort_id:
        with database.connect(settings) as db:
            meta, members = db.cohort(args.cohort_id)
        design = (meta["filters"] or {}).get("holdout_design")
        run_id = run_id or meta["run_id"]
        source = f"cohort {args.cohort_id} ('{meta['name']}')"
        members = campaign_tables.cohort_members(members, source)
    else:
        members = campaign_tables.read_cohort(args.cohort)
        source = args.cohort
    run = store.load_run(settings.artifacts_dir, run_id)
    members = campaign_tables.with_scores(members, run.table("scored"))
    if args.log:
        if not args.window:
            raise DataError("--log needs --window START END (the campaign window)")
        spec = _run_log_spec(run, "give the outcomes as a table (--outcomes)")
        outcomes = campaign_tables.outcomes_from_log(args.log, spec, *args.window)
    else:
        outcomes = campaign_tables.read_outcomes(args.outcomes, args.id, args.purchased, args.revenue)
    sized_for = args.sized_for if args.sized_for is not None else (design or {}).get("relative_lift")
    r = readout.campaign_readout(members, outcomes, sized_for=sized_for, seed=settings.seed,
                                 segment_names=run.segment_names())
    r = {"run_id": run.run_id, "cohort": source, **r}
    _print_readout(r)
    path = reports.save_monitoring(settings.artifacts_dir, run.run_id, "readout", r)
    print(f"report: {path}")
    if args.out:
        from core.runs.results import JSONEncoder

        _write_text(args.out, json.dumps(r, cls=JSONEncoder, indent=2, allow_nan=False), (".json",))
        print(f"readout: {args.out}")
    return 0


def _print_readout(r: dict) -> None:
    """The readout in a few lines (the whole of it is in the saved JSON)."""
    from core.activation import readout

    def pct(x):
        return "n/a" if x is None else f"{100 * x:+.2f}"

    rows = r["rows"]
    found = rows["with_outcome"] - rows["counted_as_no_purchase"]
    print(f"readout of {r['cohort']} (run {r['run_id']}): {found:,} of {rows['cohort']:,} cohort customers in the "
          f"outcomes" + (f", {rows['counted_as_no_purchase']:,} more counted as not buying"
                         if rows["counted_as_no_purchase"] else ""))
    for n in r["notes"]:
        print(f"note: {n}", file=sys.stderr)
    o = r["overall"]
    for g in o["groups"]:
        rev = f", revenue per customer {g['revenue_per_customer']:,.2f}" if "revenue_per_customer" in g else ""
        print(f"  {g['group']:<8} {g['customers']:>9,} customers, {g['buyers']:>8,} buyers, conversion "
              f"{100 * g['conversion']:.2f}%{rev}")
    u = o["uplift"]
    print(f"  uplift: {pct(u['absolute'])} points [{pct(u['absolute_ci'][0])}, {pct(u['absolute_ci'][1])}], relative "
          + (f"{pct(u['relative'])}% [{pct(u['relative_ci'][0])}, {pct(u['relative_ci'][1])}]" if u["relative"] is not None
             else u.get("relative_note", "n/a"))
          + f"; incremental buyers {u['incremental_buyers']:,.0f} [{u['incremental_buyers_ci'][0]:,.0f}, "
            f"{u['incremental_buyers_ci'][1]:,.0f}]")
    if "revenue_uplift" in o:
        v = o["revenue_uplift"]
        print(f"  revenue per customer: {v['per_customer']:+,.2f} [{v['per_customer_ci'][0]:+,.2f}, "
              f"{v['per_customer_ci'][1]:+,.2f}]; incremental revenue {v['incremental']:,.0f} "
              f"[{v['incremental_ci'][0]:,.0f}, {v['incremental_ci'][1]:,.0f}]")
    print(f"  power: {readout.power_text(r['power'])}")
    for g, c in r["calibration"].items():
        print(f"  calibration, {g}: predicted {100 * c['predicted']:.2f}%, observed {100 * c['observed']:.2f}% "
              f"[{100 * c['observed_ci'][0]:.2f}, {100 * c['observed_ci'][1]:.2f}]")
    small = [row["name"] for row in r["by_segment"] + r["by_band"] if "too_small" in row]
    if small:
        print(f"  too small for their own readout: {', '.join(map(str, small))}")


def _backtest(args, settings) -> int:
    from core.inputs import tables
    from core.ops import monitoring
    from core.runs import reports, store
    scores = tables.read_table(args.scores)
    run_id = str(scores["run_id"].iloc[0]) if "run_id" in scores and len(scores) else None
    run = None
    if run_id and store.RUN_ID.fullmatch(run_id) and (store.runs_dir(settings.artifacts_dir) / run_id).is_dir():
        run = store.load_run(settings.artifacts_dir, run_id)
    target = args.target or (run.spec().target if run is not None else None)
    if target is None:
        raise DataError(f"{args.scores}: cannot tell the outcome column (no run {run_id} in "
                        f"{settings.artifacts_dir}): give --target")
    id_col = run.spec().id_column if run is not None else "customer_id"
    outcomes = tables.read_table(args.outcomes)
    if id_col not in outcomes and "customer_id" in outcomes:
        id_col = "customer_id"
    try:
        report = monitoring.backtest(scores, outcomes, target, id_column=id_col, seed=settings.seed)
    except ValueError as exc:
        raise DataError(f"{args.scores} / {args.outcomes}: {exc}") from None
    r = report
    print(f"backtest of run {r['run_id']}: {r['rows']['with_outcome']:,} of {r['rows']['scored']:,} scored customers "
          f"have an outcome; ROC-AUC {r['roc_auc']:.3f} [{r['roc_auc_ci'][0]:.3f}, {r['roc_auc_ci'][1]:.3f}], "
          f"PR-AUC (average precision) {r['pr_auc']:.3f} [{r['pr_auc_ci'][0]:.3f}, {r['pr_auc_ci'][1]:.3f}]; "
          f"realised rate {r['base_rate']:.3f} vs predicted {r['mean_predicted']:.3f}; ECE {r['ece']:.4f}")
    print(f"{'decile':>6} {'customers':>10} {'predicted':>10} {'realised':>9}")
    for d in r["deciles"]:
        print(f"{d['propensity_decile']:>6} {d['customers']:>10,} {d['predicted']:>10.3f} {d['realised']:>9.3f}")
    if run is not None:
        print(f"report: {reports.save_monitoring(settings.artifacts_dir, run.run_id, 'backtest', report)}")
    return 0


def _retrain(args, settings) -> int:
    from core.pipeline.champion import retrain

    if args.log and (args.data or not args.spec):
        raise DataError("retrain --log LOG needs --spec configs/NAME.toml (a log spec) and no --data")
    from core.pipeline.champion import TrainOutcome, publish
    from core.runs import store

    report = retrain(args.log or args.data, args.spec, settings, progress=_progress, log=bool(args.log))
    _print_database(publish(TrainOutcome(store.load_run(settings.artifacts_dir, report.challenger), report),
                            settings, None))
    return _print_retrain(report)


def _print_retrain(r) -> int:
    """Print a :class:`core.runs.results.RetrainReport`; returns 0."""
    a, b = r.metrics["challenger"], r.metrics["champion"]
    print(f"champion {r.champion} vs challenger {r.challenger} on the challenger's {r.test_rows:,} test rows:")
    print(f"{'':<12} {'ROC-AUC':>8} {'PR-AUC':>8} {'Brier':>8} {'ECE':>8}")
    for name, m in (("champion", b), ("challenger", a)):
        print(f"{name:<12} {m['roc_auc']:>8.4f} {m['pr_auc']:>8.4f} {m['brier']:>8.4f} {m['ece']:>8.4f}")
    n = r.champion_on_new_data
    print(f"champion on the whole new table ({n['rows']:,} rows): ROC-AUC {n['roc_auc']:.4f}, PR-AUC {n['pr_auc']:.4f}")
    c = r.continuity
    kept = "n/a" if c.share_keeping_segment is None else f"{c.share_keeping_segment:.1%}"
    print(f"segments: {c.matched} matched, {c.new} new, {c.retired} retired; {kept} of customers keep "
          f"their segment (transition matrix in the report)")
    print(f"decision: {r.decision} ({r.why})")
    print(f"report: {r.report_path}")
    return 0


def _report(args, settings) -> int:
    import os

    from core import report
    from core.runs import store
    out = Path(args.out)
    if out.suffix.lower() not in (".html", ".htm", ".md"):
        raise DataError(f"{out}: the report must end in .html or .md")
    if out.is_dir():
        raise DataError(f"{out}: is a folder, expected a file name")
    run = store.load_run(settings.artifacts_dir, args.run)
    text = (report.render_markdown if out.suffix.lower() == ".md" else report.render_html)(run)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out)
    print(f"wrote the report of run {run.run_id} to {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0
