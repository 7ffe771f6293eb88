"""The campaign readout on simulated campaigns with a known uplift: how often its 95%
intervals hold the truth, and how often it claims an uplift when there is none.

The cohort is built from a run's scores as the Cohort builder would (``--artifacts DIR``:
its current run; customers with a propensity in ``[--min, --max]``, a seeded holdout sized
for ``--sized-for``), or, without a run, drawn at random (8,000 customers, 3,000 held out).
Each repeat is a new campaign (:func:`core.inputs.synthetic.campaigns.simulate_campaign`: the holdout drawn at
random again, then each customer buys with its calibrated propensity, plus ``--uplift``
points when contacted; a buyer spends a Gamma amount of mean 60) and reads it out. Prints the share of repeats whose
interval holds the true absolute, relative and revenue uplift, and, with no uplift, the
share whose conversion interval excludes zero; and one readout in full.

Usage::

    python -m benchmarks.bench_readout [--artifacts DIR] [--repeats 200] [--uplift 0.03]
    python -m benchmarks.bench_readout --outcomes-for cohort.csv --out outcomes.csv [--uplift 0.03] [--seed 42]

The second form simulates one campaign's outcomes (``customer_id``, ``purchased``,
``revenue``) for a cohort exported by ``python -m core cohort`` or the Cohort builder
(:func:`core.inputs.synthetic.campaigns.simulate_outcomes` on its groups and propensities), to try
``python -m core readout`` or the Campaign readout tab on.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.records import Record, command_line
from core.actions.campaigns import read_cohort
from core.activation import cohorts, readout
from core.inputs.synthetic import campaigns
from core.runs import store
from core.runs.store import write_json


def _cohort(artifacts: str | None, lo: float, hi: float, sized_for: float, seed: int) -> tuple[pd.DataFrame, str]:
    if artifacts is None:
        rng = np.random.default_rng(seed)
        n, holdout = 8000, 3000
        p = np.clip(rng.beta(2, 9, size=n), 0.01, 0.9)
        group = np.array(["contact"] * n, dtype=object)
        group[rng.choice(n, holdout, replace=False)] = "holdout"
        return pd.DataFrame({"customer_id": [f"c{i}" for i in range(n)], "group": group, "propensity": p,
                             "segment_id": rng.integers(0, 4, n),
                             "propensity_decile": rng.integers(1, 11, n)}), "a random cohort of 8,000 (3,000 held out)"
    run = store.load_run(Path(artifacts))
    scored, _, _ = cohorts.latest_snapshot(run.table("scored"))
    mask = cohorts.cohort_mask(scored, None, lo, hi)
    s = cohorts.cohort_summary(scored, mask)
    export = cohorts.cohort_export(scored, mask, cohorts.holdout_design(s, sized_for)["holdout"], seed)
    return export, (f"run {run.run_id}: propensity {lo:.2f} to {hi:.2f}, {len(export):,} customers, "
                    f"{int((export['group'] == 'holdout').sum()):,} held out (sized for {sized_for:+.0%})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--artifacts", default=None, help="runs folder whose current run's scores make the cohort")
    ap.add_argument("--min", type=float, default=0.3, help="the cohort's lowest propensity")
    ap.add_argument("--max", type=float, default=1.0)
    ap.add_argument("--sized-for", type=float, default=0.10)
    ap.add_argument("--uplift", type=float, default=0.03, help="the true uplift, in conversion points (0.03 = +3)")
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--boot", type=int, default=1000, help="bootstrap resamples per readout")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--show", default=None, help="write the first readout's JSON here")
    ap.add_argument("--outcomes-for", default=None, help="a cohort CSV: simulate its outcomes into --out and stop")
    ap.add_argument("--out", default="outcomes.csv", help="with --outcomes-for: the outcomes CSV")
    args = ap.parse_args()
    if args.outcomes_for:
        members = read_cohort(args.outcomes_for)
        if "propensity" not in members.columns:
            sys.exit(f"error: {args.outcomes_for}: no propensity column (export the cohort from this product)")
        out, truth = campaigns.simulate_outcomes(members, args.uplift, args.seed)
        out.to_csv(args.out, index=False)
        print(f"{len(out):,} outcomes ({int(out['purchased'].sum()):,} buyers) of {args.outcomes_for} -> {args.out}; "
              f"true uplift {100 * truth['absolute']:+.2f} points, relative {100 * truth['relative']:+.2f}%, revenue "
              f"per customer {truth['per_customer']:+.2f}")
        return 0
    members, what = _cohort(args.artifacts, args.min, args.max, args.sized_for, args.seed)
    print(f"cohort: {what}; true uplift {args.uplift:+.2%} points; {args.repeats} seeded repeats, {args.boot:,} "
          "bootstrap resamples each")
    t0 = time.perf_counter()
    cover = {"absolute": 0, "relative": 0, "per_customer": 0}
    alarms = 0
    first = None
    for k in range(args.repeats):
        drawn, out, truth = campaigns.simulate_campaign(members, args.uplift, seed=args.seed * 100_000 + k)
        r = readout.campaign_readout(drawn, out, sized_for=args.sized_for, seed=k, n_boot=args.boot)
        first = first or (r, truth)
        o = r["overall"]
        cover["absolute"] += o["uplift"]["absolute_ci"][0] <= truth["absolute"] <= o["uplift"]["absolute_ci"][1]
        cover["relative"] += o["uplift"]["relative_ci"][0] <= truth["relative"] <= o["uplift"]["relative_ci"][1]
        v = o["revenue_uplift"]
        cover["per_customer"] += v["per_customer_ci"][0] <= truth["per_customer"] <= v["per_customer_ci"][1]
        drawn0, out0, _ = campaigns.simulate_campaign(members, 0.0, seed=args.seed * 100_000 + 50_000 + k)
        u0 = readout.campaign_readout(drawn0, out0, seed=k, n_boot=100)["overall"]["uplift"]
        alarms += not (u0["absolute_ci"][0] <= 0 <= u0["absolute_ci"][1])
    n = args.repeats
    r, truth = first
    o = r["overall"]
    g = {x["group"]: x for x in o["groups"]}
    u = o["uplift"]
    record = Record("readout", "The campaign readout on simulated campaigns", command_line())
    record.note(f"The cohort: {what}; a true uplift of {args.uplift:+.2%} points; {n} seeded repeats (a new holdout "
                f"and new outcomes each), {args.boot:,} bootstrap resamples per readout; {time.perf_counter() - t0:.0f} s "
                "in all.")
    record.table("How often the 95% interval holds the true uplift", [
        {"interval": "conversion (points, Newcombe)", "held the truth": f"{cover['absolute']}/{n}",
         "share": f"{cover['absolute'] / n:.1%}"},
        {"interval": "relative (log risk ratio)", "held the truth": f"{cover['relative']}/{n}",
         "share": f"{cover['relative'] / n:.1%}"},
        {"interval": "revenue per customer (studentized bootstrap)", "held the truth": f"{cover['per_customer']}/{n}",
         "share": f"{cover['per_customer'] / n:.1%}"},
        {"interval": "no true uplift: the readout says no uplift shown", "held the truth": f"{n - alarms}/{n}",
         "share": f"{(n - alarms) / n:.1%}"}])
    record.table("The first repeat in full", [
        {"figure": "contacted", "value": f"{g['contact']['customers']:,}, conversion {100 * g['contact']['conversion']:.2f}%"},
        {"figure": "holdout", "value": f"{g['holdout']['customers']:,}, conversion {100 * g['holdout']['conversion']:.2f}%"},
        {"figure": "uplift (points)", "value": f"{100 * u['absolute']:+.2f} [{100 * u['absolute_ci'][0]:+.2f}, "
                                               f"{100 * u['absolute_ci'][1]:+.2f}]; true {100 * truth['absolute']:+.2f}"},
        {"figure": "relative uplift", "value": f"{100 * u['relative']:+.1f}% [{100 * u['relative_ci'][0]:+.1f}, "
                                               f"{100 * u['relative_ci'][1]:+.1f}]; true {100 * truth['relative']:+.1f}%"},
        {"figure": "incremental buyers", "value": f"{u['incremental_buyers']:,.0f}"},
        {"figure": "revenue per customer", "value": f"{o['revenue_uplift']['per_customer']:+.2f} "
                                                    f"[{o['revenue_uplift']['per_customer_ci'][0]:+.2f}, "
                                                    f"{o['revenue_uplift']['per_customer_ci'][1]:+.2f}]; true "
                                                    f"{truth['per_customer']:+.2f}"},
        {"figure": "power at the sized-for uplift", "value": f"{r['power']['power']:.2f}"}])
    record.figure("coverage", cover["absolute"] / n, f"Readout: the conversion interval held the true uplift in "
                                                    f"{cover['absolute'] / n:.1%} of {n} simulated campaigns")
    if args.show:
        write_json(Path(args.show), r)
    record.write()
    return 0


if __name__ == "__main__":
    sys.exit(main())
