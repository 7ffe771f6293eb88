"""Commands ``score``, ``value``, ``drift`` and ``backtest``: each calls its use case
(:mod:`core.actions.scoring`) and prints what it returns."""
from __future__ import annotations

import sys

from core.actions import scoring
from core.cli.output import progress


def score(args, settings) -> int:
    """``score``: a table (or a log as of a cutoff) with a run; exit 2 when the activation
    database could not take the scores (the file is written either way)."""
    result = scoring.score_file(settings, args.data, log=args.log, cutoff=args.cutoff, run_id=args.run,
                                spec=args.spec, sheet=args.sheet, out=args.out, engine=args.engine,
                                scheduler=args.scheduler, workers=args.workers, write_database=not args.no_db,
                                progress=progress)
    if result.source:
        print(result.source, file=sys.stderr)
    where = f" on Dask ({args.scheduler or f'LocalCluster, {args.workers} workers'})" if args.engine == "dask" else ""
    print(f"scored {result.rows:,} customers with run {result.run_id}{where} in {result.seconds:.1f} s -> "
          f"{result.output}")
    for line in result.notes:
        print(f"note: {line}", file=sys.stderr)
    if result.database:
        print(result.database)
    if result.database_error:
        print(f"error: {result.database_error}", file=sys.stderr)
        return 2
    return 0


def value(args, settings) -> int:
    """``value``: expected spend, orders and churn risk per customer of a log, written to a file."""
    r = scoring.value_file(settings, args.log, args.spec, cutoff=args.cutoff, horizon=args.horizon,
                           churn_horizon=args.churn, out=args.out, progress=progress)
    info = r.info
    print(f"value of {r.rows:,} customers as of {info['cutoff']}: expected spend and orders over {info['horizon_days']} "
          f"days, churn risk over {info['churn_horizon_days']} days, in {r.seconds:.1f} s -> {r.output}")
    for line in r.notes:
        print(f"note: {line}", file=sys.stderr)
    return 0


def drift(args, settings) -> int:
    """``drift``: PSI of a new table against a run's training table, saved beside the run."""
    d = scoring.drift(settings, args.data, run_id=args.run)
    report = d.report
    s = report["summary"]
    print(f"drift of {args.data} ({report['rows']['new']:,} rows) against run {d.run_id} "
          f"({report['rows']['train']:,} rows): {s['act']} features to act on (PSI >= 0.25), {s['watch']} to watch "
          f"(>= 0.1), {s['ok']} stable; score PSI {report['score']['psi']:.3f} ({report['score']['flag']}); "
          f"segment shares PSI {report['segments_psi']:.3f}")
    print(f"{'feature':<28} {'PSI':>7} {'flag':>6} {'missing train':>14} {'missing new':>12}")
    for r in report["features"]:
        print(f"{r['feature']:<28} {r['psi']:>7.3f} {r['flag']:>6} {r['missing_train']:>14.1%} {r['missing_new']:>12.1%}")
    print(f"report: {d.path}")
    return 0


def backtest(args, settings) -> int:
    """``backtest``: a past scoring against the outcomes that followed."""
    b = scoring.backtest(settings, args.scores, args.outcomes, args.target)
    r = b.report
    print(f"backtest of run {r['run_id']}: {r['rows']['with_outcome']:,} of {r['rows']['scored']:,} scored customers "
          f"have an outcome; ROC-AUC {r['roc_auc']:.3f} [{r['roc_auc_ci'][0]:.3f}, {r['roc_auc_ci'][1]:.3f}], "
          f"PR-AUC (average precision) {r['pr_auc']:.3f} [{r['pr_auc_ci'][0]:.3f}, {r['pr_auc_ci'][1]:.3f}]; "
          f"realised rate {r['base_rate']:.3f} vs predicted {r['mean_predicted']:.3f}; ECE {r['ece']:.4f}")
    print(f"{'decile':>6} {'customers':>10} {'predicted':>10} {'realised':>9}")
    for d in r["deciles"]:
        print(f"{d['propensity_decile']:>6} {d['customers']:>10,} {d['predicted']:>10.3f} {d['realised']:>9.3f}")
    if b.path is not None:
        print(f"report: {b.path}")
    return 0


COMMANDS = {"score": score, "value": value, "drift": drift, "backtest": backtest}
