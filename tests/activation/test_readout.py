"""The campaign readout (issue 18): intervals checked against published examples and a
hand computation, the simulated campaigns' coverage, and bad input."""

import numpy as np
import pandas as pd
import pytest

from core.actions.campaigns import read_cohort
from core.activation import campaign_tables, readout, stats
from core.errors import DataError
from core.inputs.synthetic import campaigns


def test_wilson_and_newcombe_match_the_published_examples():
    # Newcombe 1998 (single proportion, Statistics in Medicine 17:857-872), example 81/263: 0.2553 to 0.3662
    lo, hi = stats.wilson(81, 263)
    assert (round(lo, 4), round(hi, 4)) == (0.2553, 0.3662)
    # Newcombe 1998 (difference, Statistics in Medicine 17:873-890), Table II, method 10:
    # (a) 56/70 - 48/80: 0.0524 to 0.3339; (b) 9/10 - 3/10: 0.1705 to 0.8090; (d) 5/56 - 0/29: -0.0381 to 0.1926
    for (x1, n1, x2, n2), want in (((56, 70, 48, 80), (0.0524, 0.3339)), ((9, 10, 3, 10), (0.1705, 0.8090)),
                                   ((5, 56, 0, 29), (-0.0381, 0.1926))):
        d, lo, hi = stats.newcombe(x1, n1, x2, n2)
        assert d == pytest.approx(x1 / n1 - x2 / n2) and (round(lo, 4), round(hi, 4)) == want


def test_the_relative_uplift_interval_is_the_log_risk_ratio_one():
    """Against SciPy's ``relative_risk`` (its interval is Katz et al. 1978's, on the log scale)."""
    from scipy.stats.contingency import relative_risk

    for x1, n1, x2, n2 in ((120, 1000, 100, 1000), (33, 57466 // 100, 7, 1294 // 100), (5, 56, 2, 29)):
        rr, lo, hi = stats.risk_ratio(x1, n1, x2, n2)
        ref = relative_risk(x1, n1, x2, n2)
        ci = ref.confidence_interval(0.95)
        assert (rr + 1, lo + 1, hi + 1) == pytest.approx((ref.relative_risk, ci.low, ci.high), rel=1e-9)
    assert stats.risk_ratio(5, 100, 0, 100) is None


def test_power_matches_the_holdout_size_the_cohort_builder_uses():
    from core.activation.stats import holdout_size

    n = holdout_size(0.10, 0.20)  # per group, for +20% on 10%, alpha 0.05, power 0.8
    assert stats.two_proportion_power(0.10, 0.20, n, n) == pytest.approx(0.8, abs=0.005)
    assert stats.two_proportion_power(0.10, 0.20, n // 4, n // 4) < 0.4
    assert stats.detectable_lift(0.10, n, n) == pytest.approx(0.20, abs=0.003)


def _cohort(n=8000, holdout=3000, seed=0):
    rng = np.random.default_rng(seed)
    p = np.clip(rng.beta(2, 9, size=n), 0.01, 0.9)
    group = np.array(["contact"] * n, dtype=object)
    group[rng.choice(n, holdout, replace=False)] = "holdout"
    decile = 10 - np.minimum(9, (np.argsort(np.argsort(-p)) * 10) // n)
    return pd.DataFrame({"customer_id": [f"c{i}" for i in range(n)], "group": group,
                         "segment_id": rng.integers(0, 4, n), "propensity": p, "propensity_decile": decile})


def test_a_readout_recovers_a_known_uplift_and_counts_what_it_left_out():
    members = _cohort()
    outcomes, truth = campaigns.simulate_outcomes(members, 0.04, seed=1)
    outcomes = pd.concat([outcomes.iloc[50:],                                       # 50 members without outcome
                          pd.DataFrame({"customer_id": ["x1", "x2"], "purchased": [1, 0], "revenue": [9.0, 0.0]})])
    r = readout.campaign_readout(members, outcomes, sized_for=0.25, seed=3, n_boot=500)
    assert r["rows"] == {"cohort": 8000, "with_outcome": 7950, "left_out": 50, "counted_as_no_purchase": 0,
                         "outcomes_outside_cohort": 2}
    o = r["overall"]
    c, h = (pd.merge(members, outcomes, on="customer_id").query("group == @g") for g in ("contact", "holdout"))
    assert o["groups"][0]["buyers"] == c["purchased"].sum() and o["groups"][1]["customers"] == len(h)
    assert o["uplift"]["absolute"] == pytest.approx(c["purchased"].mean() - h["purchased"].mean())
    lo, hi = o["uplift"]["absolute_ci"]
    assert lo < truth["absolute"] < hi and lo > 0                      # found, and within its interval
    assert o["uplift"]["incremental_buyers"] == pytest.approx(o["uplift"]["absolute"] * len(c))
    assert o["revenue_uplift"]["per_customer"] == pytest.approx(c["revenue"].mean() - h["revenue"].mean())
    assert all("too_small" not in row for row in r["by_segment"])   # 4 segments of about 2,000
    assert [row["key"] for row in r["by_band"]] == ["high", "low", "medium"]
    assert set(r["calibration"]) == {"contact", "holdout"}
    assert r["calibration"]["holdout"]["within_interval"]          # simulated from the propensities themselves
    assert r["power"]["sized_for"] == 0.25 and r["power"]["enough"] is not None


def test_small_groups_are_said_not_read_out():
    members = _cohort(n=1000, holdout=300)
    outcomes, _ = campaigns.simulate_outcomes(members, 0.02, seed=2)
    r = readout.campaign_readout(members, outcomes, seed=0, n_boot=200)
    assert all("too_small" in row and "each group needs 100" in row["too_small"] for row in r["by_segment"])
    assert r["power"]["sized_for"] is None and r["power"]["power"] is None  # no post-hoc power
    assert readout.power_text(r["power"]).startswith("The cohort does not say what uplift its holdout was sized for")


def test_a_list_of_buyers_without_revenue_reads_out_conversion_only():
    members = _cohort(n=2000, holdout=1000)
    outcomes, _ = campaigns.simulate_outcomes(members, 0.0, seed=4)
    buyers = outcomes[outcomes["purchased"] == 1].assign(revenue=np.nan)
    r = readout.campaign_readout(members, buyers, seed=0, n_boot=200)
    assert "revenue_uplift" not in r["overall"] and "revenue_per_customer" not in r["overall"]["groups"][0]
    assert any("no revenue" in n for n in r["notes"])


def test_an_outcome_table_of_buyers_only_counts_the_others_as_not_buying():
    members = _cohort(n=2000, holdout=1000)
    outcomes, _ = campaigns.simulate_outcomes(members, 0.0, seed=4)
    buyers = outcomes[outcomes["purchased"] == 1]
    r = readout.campaign_readout(members, buyers, seed=0, n_boot=200)
    assert r["rows"]["counted_as_no_purchase"] == 2000 - len(buyers) and r["rows"]["with_outcome"] == 2000
    full = readout.campaign_readout(members, outcomes, seed=0, n_boot=200)
    assert r["overall"]["uplift"] == full["overall"]["uplift"]


@pytest.mark.slow
def test_the_intervals_cover_a_known_uplift_and_find_none_when_there_is_none():
    """Seeded simulated campaigns on one cohort (8,000 customers, 3,000 held out; each a new
    random holdout and new outcomes): in 60 with a true uplift the 95% intervals hold it in
    about 95%, at least 52 of 60, the lower end of the 99% binomial range
    (scipy.stats.binom.ppf(0.005, 60, 0.95); above it the intervals are merely conservative);
    in 120 with none, they exclude zero in about 5%, 1 to 13 times (the 99% range,
    binom.ppf(0.005 and 0.995, 120, 0.05)). The benchmark runs 200 repeats; its figures are
    in docs/performance.md (python -m benchmarks.bench_readout)."""
    members = _cohort()
    cover = {"absolute": 0, "relative": 0, "per_customer": 0}
    false_alarms = 0
    for seed in range(120):
        if seed < 60:
            drawn, out, truth = campaigns.simulate_campaign(members, 0.03, seed=seed)
            r = readout.campaign_readout(drawn, out, seed=seed, n_boot=400)["overall"]
            cover["absolute"] += r["uplift"]["absolute_ci"][0] <= truth["absolute"] <= r["uplift"]["absolute_ci"][1]
            cover["relative"] += r["uplift"]["relative_ci"][0] <= truth["relative"] <= r["uplift"]["relative_ci"][1]
            v = r["revenue_uplift"]
            cover["per_customer"] += v["per_customer_ci"][0] <= truth["per_customer"] <= v["per_customer_ci"][1]
        drawn0, out0, _ = campaigns.simulate_campaign(members, 0.0, seed=1000 + seed)
        u0 = readout.campaign_readout(drawn0, out0, seed=seed, n_boot=100)["overall"]["uplift"]
        false_alarms += not (u0["absolute_ci"][0] <= 0 <= u0["absolute_ci"][1])
    assert all(52 <= v <= 60 for v in cover.values()), cover
    assert 1 <= false_alarms <= 13, false_alarms  # about 5% of 120


def test_bad_input_is_refused_in_one_line(tmp_path):
    members = _cohort(n=600, holdout=0)
    outcomes, _ = campaigns.simulate_outcomes(members, 0.0, seed=0)
    with pytest.raises(DataError, match="no holdout customer"):
        readout.campaign_readout(members, outcomes)
    bad = pd.DataFrame({"customer_id": ["a", "b", "c"], "purchased": [1, 0, 1], "revenue": ["12.50", "0", "lots"]})
    with pytest.raises(DataError, match=r"column 'revenue', row 3: 'lots' is not an amount of money"):
        campaign_tables.outcome_table(bad, "outcomes.csv")
    money = campaign_tables.outcome_table(bad.assign(revenue=["$1,234.50", "", "7"]), "outcomes.csv")
    assert money["revenue"].tolist() == [1234.5, 0.0, 7.0]  # a non-buyer's empty revenue is 0
    assert money.attrs["notes"] == []
    for huge in ("inf", "1e15"):
        with pytest.raises(DataError, match=r"column 'revenue', row 3: '.*' is not an amount of money"):
            campaign_tables.outcome_table(bad.assign(revenue=["1", "2", huge]), "outcomes.csv")
    with pytest.raises(DataError, match=r"row 2: 'maybe' is not a purchase flag"):
        campaign_tables.outcome_table(bad.assign(purchased=["yes", "maybe", "no"], revenue=0), "outcomes.csv")
    with pytest.raises(DataError, match=r"column 'purchased', row 2: the purchase flag is empty"):
        campaign_tables.outcome_table(bad.assign(purchased=["yes", "", "no"], revenue=0), "outcomes.csv")
    with pytest.raises(DataError, match=r"outcomes.csv: column 'customer_id', row 1 and row 3: customer 'a' has two"):
        campaign_tables.outcome_table(bad.assign(customer_id=["a", "b", "a"], revenue=0), "outcomes.csv")
    with pytest.raises(DataError, match=r"cohort.csv: row 2: group 'maybe' is neither a contact name"):
        campaign_tables.cohort_members(pd.DataFrame({"customer_id": [1, 2], "group": ["contact", "maybe"]}), "cohort.csv")
    with pytest.raises(DataError, match="no customer of the cohort is in the outcomes"):
        readout.campaign_readout(_cohort(n=300, holdout=100), outcomes.assign(customer_id="zz" + outcomes["customer_id"]))


@pytest.mark.slow
def test_cohort_then_readout_from_the_command_line(trained, tmp_path):
    """`cohort` saves a cohort with a sized holdout (CSV and database); `readout` joins it to
    the outcomes, reads the design back from the database and saves the report."""
    import json
    import shutil
    import subprocess
    import sys

    from tests.support import REPO

    src, run = trained
    art = tmp_path / "artifacts"
    shutil.copytree(src, art)
    cli = [sys.executable, "-m", "core", "--artifacts", str(art)]
    out = subprocess.run(cli + ["cohort", "--name", "test", "--min-propensity", "0.0", "--holdout-for", "0.5",
                                "--out", str(tmp_path / "c.csv")], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    cid = out.stdout.split("saved as cohort ")[1].split()[0]
    members = read_cohort(tmp_path / "c.csv")
    assert (members["group"] == "holdout").sum() > 0
    outcomes, _ = campaigns.simulate_outcomes(members, 0.05, seed=1)
    outcomes.to_csv(tmp_path / "o.csv", index=False)
    got = subprocess.run(cli + ["readout", "--cohort-id", cid, "--outcomes", str(tmp_path / "o.csv"),
                                "--out", str(tmp_path / "r.json")], cwd=REPO, capture_output=True, text=True)
    assert got.returncode == 0, got.stderr
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["power"]["sized_for"] == 0.5 and r["rows"]["with_outcome"] == len(members)
    assert set(r["calibration"]) == {"contact", "holdout"}                 # propensities joined from the run
    want = members.merge(outcomes, on="customer_id").groupby("group")["purchased"].mean()
    assert r["overall"]["uplift"]["absolute"] == pytest.approx(want["contact"] - want["holdout"])
    assert list((art / "monitoring" / run.run_id).glob("readout-*.json"))
    bad = subprocess.run(cli + ["readout", "--cohort-id", "nope", "--outcomes", str(tmp_path / "o.csv")], cwd=REPO,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].startswith("error: database duckdb:///")


def test_outcomes_say_what_they_assumed():
    """A buyer without revenue makes the readout conversion-only (a 0 would read as a buyer
    who spent nothing); buyers found from revenue, and revenue of non-buyers, are noted;
    "Customer ID" is found as the id."""
    t = pd.DataFrame({"Customer ID": ["a", "b", "c", "d"], "purchased": [1, 1, 0, 0], "revenue": [10, None, 0, 5]})
    out = campaign_tables.outcome_table(t, "o.csv")
    assert out["revenue"].isna().all() and out["purchased"].tolist() == [1, 1, 0, 0]
    assert out.attrs["notes"] == ["column 'revenue': 1 buyers have no revenue (the first at row 2): revenue left "
                                  "out, conversion only"]
    out = campaign_tables.outcome_table(t.assign(revenue=[10, 20, 0, 5]), "o.csv")
    assert out["revenue"].tolist() == [10, 20, 0, 5] and "1 customers not flagged as buyers have revenue" in \
        out.attrs["notes"][0]
    out = campaign_tables.outcome_table(t.drop(columns="purchased").assign(revenue=[10, 0, None, 5]), "o.csv")
    assert out["purchased"].tolist() == [1, 0, 0, 1] and out.attrs["notes"][0].startswith("no purchase flag column")
    members = _cohort(n=600, holdout=200)
    outcomes, _ = campaigns.simulate_outcomes(members, 0.0, seed=0)
    outcomes.loc[0, "revenue"] = np.nan  # as read: no revenue for one customer
    outcomes.loc[0, "purchased"] = 1
    r = readout.campaign_readout(members, campaign_tables.outcome_table(outcomes, "o.csv"), n_boot=50)
    assert "revenue_uplift" not in r["overall"] and any("conversion only" in n for n in r["notes"])


def test_a_cohort_customer_the_run_never_scored_is_noted_not_put_in_a_band():
    members = _cohort(n=600, holdout=200)
    members.loc[0, ["segment_id", "propensity", "propensity_decile"]] = np.nan
    outcomes, _ = campaigns.simulate_outcomes(members.fillna({"propensity": 0.2}), 0.0, seed=0)
    r = readout.campaign_readout(members, outcomes, n_boot=50, min_group=10)
    assert r["rows"]["with_outcome"] == 600
    assert any(n.startswith("1 cohort customers have no score in the run") for n in r["notes"])
    assert sum(row["contact_customers"] + row["holdout_customers"] for row in r["by_band"]) == 599
    assert sum(row["contact_customers"] + row["holdout_customers"] for row in r["by_segment"]) == 599
    assert all(row["key"] in {"0", "1", "2", "3"} for row in r["by_segment"]), r["by_segment"]
    scored = members.iloc[1:].merge(outcomes, on="customer_id")  # the calibration leaves the unscored one out
    for g in ("contact", "holdout"):
        part = scored[scored["group"] == g]
        assert r["calibration"][g]["observed"] == pytest.approx(part["purchased"].mean())
        assert r["calibration"][g]["predicted"] == pytest.approx(part["propensity"].mean())


def test_a_holdout_without_a_buyer_reads_out_and_saves_as_strict_json(tmp_path):
    """No buyer in the holdout: the power and the detectable uplift cannot be computed; they
    are None (not NaN), the readout says so, and it saves as strict JSON."""
    import json

    from core.runs import store

    members = _cohort(n=2000, holdout=40)
    outcomes, _ = campaigns.simulate_outcomes(members, 0.0, seed=0)
    outcomes.loc[outcomes["customer_id"].isin(members.loc[members["group"] == "holdout", "customer_id"]),
                 ["purchased", "revenue"]] = 0
    r = readout.campaign_readout(members, outcomes, sized_for=0.10, n_boot=50)
    assert r["power"]["power"] is None and r["power"]["detectable_lift"] is None and r["power"]["enough"] is None
    assert "cannot be computed" in readout.power_text(r["power"])
    store.write_json(tmp_path / "r.json", r)                    # allow_nan=False: a NaN would raise
    assert json.loads((tmp_path / "r.json").read_text())["power"]["power"] is None
