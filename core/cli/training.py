"""Commands ``generate``, ``train``, ``retrain``, ``spec draft`` and ``check``: each calls its
use case (:mod:`core.actions.training`) and prints what it returns."""
from __future__ import annotations

import sys
from pathlib import Path

from core.actions import training
from core.cli.output import print_database, progress
from core.errors import DataError
from core.inputs import spec_draft, tables
from core.inputs.shopsphere_spec import resolve_spec
from core.runs.results import RetrainReport


def generate(args, settings) -> int:
    """``generate``: the default table, or with ``--log`` the default order log."""
    g = training.generate(settings, rows=args.rows, out=args.out, month=args.month, log=args.log,
                          customers=args.customers)
    if g.attributes is not None:
        print(f"wrote {g.summary} to {g.path} and their attributes to {g.attributes} in {g.seconds:.1f} s; train "
              f"with: python -m core train --log {g.path} --spec configs/shopsphere_log.toml")
    else:
        print(f"wrote {g.summary} to {g.path} in {g.seconds:.1f} s (purchase rate {g.purchase_rate:.3f})")
    return 0


def train(args, settings) -> int:
    """``train``: a run on a table (a spec drafted when none is given) or a log."""
    if args.log and (args.data or not args.spec):
        raise DataError("train --log LOG needs --spec configs/NAME.toml (a log spec) and no --data")
    if args.spec and (args.target or args.id or args.save_spec):
        raise DataError("--target, --id and --save-spec draft a spec: leave them out with --spec (the spec names them)")
    spec = args.spec
    if args.data and not args.spec:
        choice = training.spec_for_table(args.data, None, args.target, args.id, args.sheet, args.save_spec)
        if choice.drafted:
            print("no --spec given: drafted one from the data (python -m core spec draft writes it to a file to edit):")
            for line in choice.decisions:
                print(f"  {line}")
            if choice.saved_to:
                print(f"  saved to {choice.saved_to}")
        spec = choice.path
    result = training.train(args.log or args.data, spec, settings, progress=progress, log=bool(args.log),
                            sheet=args.sheet)
    print_database(result)
    if result.retrain is not None:
        return print_retrain(result.retrain)
    for line in result.notes:
        print(f"note: {line}", file=sys.stderr)
    _print_run(result.run)
    return 0


def _print_run(run) -> None:
    """A new run in a few lines: its source, segments, the models' test figures, continuity."""
    m = run.metrics()
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
          f"depth-{seg.surrogate_depth} rules reproduce {seg.surrogate_fidelity:.0%} of all customers' segments")
    for line in seg.merged_clusters:
        print(f"segments: {line}")
    link = run.continuity()
    if link.previous_run:
        status = list(link.status.values())
        print(f"matched to run {link.previous_run}: {status.count('matched')} segments kept their id, "
              f"{status.count('new')} new, {len(link.retired)} retired")


def retrain(args, settings) -> int:
    """``retrain``: a challenger compared with the current run."""
    if args.log and (args.data or not args.spec):
        raise DataError("retrain --log LOG needs --spec configs/NAME.toml (a log spec) and no --data")
    result = training.retrain(args.log or args.data, args.spec, settings, progress=progress, log=bool(args.log))
    print_database(result)
    return print_retrain(result.retrain)


def print_retrain(r: RetrainReport) -> int:
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


def spec(args, settings) -> int:
    """``spec draft``: a commented TOML spec drafted from a table, printed or written."""
    draft = training.draft_spec(args.data, target=args.target, id_column=args.id, sheet=args.sheet, name=args.name)
    text = spec_draft.spec_toml(draft, Path(args.data).name)
    if args.out:
        training.write_spec(args.out, text)
        print(f"wrote the drafted spec to {args.out}:", file=sys.stderr)
        for line in draft.decisions:
            print(f"  {line}", file=sys.stderr)
    else:
        print(text, end="")
    return 0


def check(args, settings) -> int:
    """``check``: a table against its spec, as the Admin page checks an upload."""
    choice = training.spec_for_table(args.data, args.spec, args.target, args.id, args.sheet)
    for line in choice.decisions:
        print(f"  {line}", file=sys.stderr)
    dataset_spec = resolve_spec(choice.path)
    result = training.check_table(tables.read_table(args.data, dataset_spec, args.sheet), dataset_spec, args.data,
                                  settings)
    q = result.quality
    total = result.positives + result.negatives
    print(f"{args.data}: {q['rows']:,} rows against spec '{dataset_spec.name}'; {result.positives:,} positives "
          f"({result.positives / max(total, 1):.1%}, {dataset_spec.target_label}), {result.negatives:,} negatives; "
          f"{q['duplicate_feature_rows']:,} duplicate feature rows")
    for line in result.notes:
        print(f"note: {line}")
    if not result.trainable:
        raise DataError(result.why)
    print("it can be trained on (python -m core train --data ...)")
    return 0


COMMANDS = {"generate": generate, "train": train, "retrain": retrain, "spec": spec, "check": check}
