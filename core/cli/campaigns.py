"""Commands ``cohort`` and ``readout``: each calls its use case (:mod:`core.actions.campaigns`)
and prints what it returns."""
from __future__ import annotations

import sys

from core.actions import campaigns
from core.activation.readout import power_text
from core.errors import DataError


def cohort(args, settings) -> int:
    """``cohort``: build a cohort from a run's scores, write it to a CSV and the database;
    exit 2 when the database could not take it (the file is written either way)."""
    campaigns.check_name(args.name)  # before any work: the name is what the tools select the cohort by
    segments = None
    if args.segments:
        try:
            segments = [int(x) for x in args.segments.split(",")]
        except ValueError:
            raise DataError(f"--segments {args.segments}: segment ids are whole numbers, comma-separated") from None
    c = campaigns.build_cohort(settings, args.run, segments, args.min_propensity, args.max_propensity,
                               holdout_for=args.holdout_for, deciles=campaigns.band_deciles(args.band),
                               action=args.action)
    for line in c.notes:
        print(f"warning: {line}", file=sys.stderr)
    saved = campaigns.save_cohort(settings, c, args.name, out=args.out or campaigns.default_cohort_file(c.run_id),
                                  write_database=not args.no_db)
    print(f"cohort '{args.name}': {len(c.export):,} customers ({c.holdout:,} held out) of run {c.run_id} -> "
          f"{saved.path}")
    if saved.database_error:
        print(f"error: {saved.database_error}; the cohort file was written", file=sys.stderr)
        return 2
    if saved.cohort_id:
        print(f"saved as cohort {saved.cohort_id} in {saved.database} (tables cohorts, cohort_members)")
    return 0


def readout(args, settings) -> int:
    """``readout``: a campaign's contact group against its holdout."""
    r = campaigns.readout(settings, cohort_id=args.cohort_id, cohort=args.cohort, outcomes=args.outcomes, log=args.log,
                          window=tuple(args.window) if args.window else None, id_column=args.id,
                          purchased=args.purchased, revenue=args.revenue, sized_for=args.sized_for, run_id=args.run,
                          out=args.out)
    print_readout(r.result)
    if r.path:
        print(f"report: {r.path}")
    if args.out:
        print(f"readout: {args.out}")
    return 0


def print_readout(r: dict) -> None:
    """The readout in a few lines (the whole of it is in the saved JSON)."""
    def pct(x):
        return "n/a" if x is None else f"{100 * x:+.2f}"

    rows = r["rows"]
    found = rows["with_outcome"] - rows["counted_as_no_purchase"]
    print(f"readout of {r['cohort']} (run {r['run_id'] or 'none'}): {found:,} of {rows['cohort']:,} cohort customers "
          f"in the outcomes" + (f", {rows['counted_as_no_purchase']:,} more counted as not buying"
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
    print(f"  power: {power_text(r['power'])}")
    for g, c in r["calibration"].items():
        print(f"  calibration, {g}: predicted {100 * c['predicted']:.2f}%, observed {100 * c['observed']:.2f}% "
              f"[{100 * c['observed_ci'][0]:.2f}, {100 * c['observed_ci'][1]:.2f}]")
    small = [row["name"] for row in r["by_segment"] + r["by_band"] if "too_small" in row]
    if small:
        print(f"  too small for their own readout: {'; '.join(map(str, small))}")


COMMANDS = {"cohort": cohort, "readout": readout}
