"""Segment profiles, persona names, plain-language rules and descriptions."""
import numpy as np
import pandas as pd
import pytest

from core.inputs.shopsphere_spec import shopsphere_spec
from core.models.segmentation import profiling


def test_profiles_names_unique_and_sizes_add_up(segmenter, prepared):
    spec, clean, _ = prepared
    seg = segmenter.assign(clean)["segment_id"].to_numpy()
    prof = profiling.profile_segments(clean, seg, spec)
    names = [p["name"] for p in prof]
    assert len(set(names)) == len(names)
    assert sum(p["size"] for p in prof) == len(clean)
    assert sum(p["share"] for p in prof) == pytest.approx(1.0)
    p0 = prof[0]
    rate = clean.loc[seg == 0, spec.target].mean()
    assert p0["purchase_rate"] == pytest.approx(rate)
    med = clean.loc[seg == 0, "orders_12m"].median()
    assert p0["features"]["orders_12m"]["median"] == pytest.approx(med)


def test_persona_name_comes_from_spec_words():
    spec = shopsphere_spec()
    n = 400
    df = pd.DataFrame({c: np.ones(n) for c in spec.feature_names if not spec.column(c).is_categorical})
    for c in spec.columns:
        if c.is_categorical:
            df[c.name] = None
    df[spec.id_column] = [f"c{i}" for i in range(n)]
    seg = np.repeat([0, 1], n // 2)
    rng = np.random.default_rng(0)
    df["orders_12m"] = np.where(seg == 0, 20, 1) + rng.random(n)
    df["total_spend_12m"] = np.where(seg == 0, 2000, 50) + rng.random(n)
    prof = profiling.profile_segments(df, seg, spec)
    assert prof[0]["name"] in ("Frequent buyers, big spenders", "Big spenders, frequent buyers")
    assert prof[1]["name"] in ("Rare buyers, low spenders", "Low spenders, rare buyers")


def test_surrogate_rules_reproduce_separable_segments():
    spec = shopsphere_spec()
    rng = np.random.default_rng(0)
    n = 2000
    df = pd.DataFrame({c: rng.random(n) for c in spec.feature_names if not spec.column(c).is_categorical})
    df["orders_12m"] = rng.integers(0, 20, n).astype(float)
    df["days_since_last_order"] = rng.integers(0, 400, n).astype(float)
    # segment 0: 10+ orders; segment 1: fewer orders and ordered within 90 days; segment 2: the rest
    seg = np.where(df["orders_12m"] >= 10, 0, np.where(df["days_since_last_order"] <= 90, 1, 2))
    r = profiling.surrogate_rules(df, seg, spec, ["orders_12m", "days_since_last_order", "sessions_30d"], 0)
    assert r["fidelity"] == 1.0 and r["depth"] <= profiling.RULE_MAX_DEPTH
    assert [x["text"] for x in r["segments"][0]["rules"]] == ["orders in the last 12 months 10 or more"]
    assert [x["text"] for x in r["segments"][1]["rules"]] == [
        "orders in the last 12 months at most 9 and days since the last order at most 90"]
    assert r["segments"][2]["fidelity"] == 1.0
    assert r["segments"][0]["rules"][0]["customers"] == int((seg == 0).sum())


def test_surrogate_rules_name_a_split_of_known_from_unknown_values():
    # one-time buyers have no gap between purchases: a tree splits the known from the unknown
    spec = shopsphere_spec()
    rng = np.random.default_rng(1)
    n = 1000
    df = pd.DataFrame({c: rng.random(n) for c in spec.feature_names if not spec.column(c).is_categorical})
    df["avg_session_duration"] = np.where(np.arange(n) < 400, np.nan, rng.random(n) * 300)
    seg = (np.arange(n) < 400).astype(int)
    r = profiling.surrogate_rules(df, seg, spec, ["avg_session_duration", "sessions_30d"], 0)
    label = spec.column("avg_session_duration").label
    assert r["fidelity"] == 1.0
    assert [x["text"] for x in r["segments"][1]["rules"]] == [f"{label} unknown"]
    assert [x["text"] for x in r["segments"][0]["rules"]] == [f"{label} known"]


def test_segment_description_states_the_numbers():
    spec = shopsphere_spec()
    profile = {
        "share": 0.092, "size": 22080, "purchase_rate": 0.41,
        "top_features": [{"feature": "orders_12m", "label": "orders in the last 12 months"}],
        "features": {"orders_12m": {"mean": 9.3, "pop_mean": 3.0, "median": 9.0, "pop_median": 3.0}},
    }
    text = profiling.describe_segment(profile, spec, base_rate=0.18)
    assert text == ("9.2% of customers (22,080). 41.0% bought in the next 30 days, 2.3x the average. "
                    "Compared with the average customer: orders in the last 12 months 3.1x the average "
                    "(median 9 vs 3).")


def _shoppers_spec():
    from core.inputs.spec import ColumnSpec, DatasetSpec
    from core.inputs.words import label
    cols = [("Administrative", "count"), ("Administrative_Duration", "duration"), ("Recency", "numeric"),
            ("PageValues", "numeric"), ("BounceRates", "rate"), ("MntMeatProducts", "currency"),
            ("NumWebVisitsMonth", "count")]
    return DatasetSpec(name="shoppers", id_column="id", target=None, segmentation_groups=("behavioral",),
                       columns=tuple(ColumnSpec(name=n, kind=k, group="behavioral", label=label(n)) for n, k in cols))


def _named(spec, ranked: dict[int, list[tuple[str, float]]]) -> dict[int, str]:
    profiles = [{"segment_id": s, "ranked": r, "features": {n: {"std_diff": d} for n, d in r}}
                for s, r in ranked.items()]
    for p in profiles:  # every column known on every segment (0 where not given)
        for col in spec.feature_names:
            p["features"].setdefault(col, {"std_diff": 0.0})
    profiling._name_segments(profiles, spec)
    return {p["segment_id"]: p["name"] for p in profiles}


def test_names_never_contradict_or_repeat_a_topic_and_stay_short():
    spec = _shoppers_spec()
    names = _named(spec, {
        # two segments alike on the two columns: the one told apart by recency must not read "... high recency"
        0: [("PageValues", 1.2), ("Recency", -0.9), ("BounceRates", -0.3)],
        1: [("PageValues", 1.1), ("Recency", -0.8), ("BounceRates", 0.4)],
        # both administrative columns stand out: one of them is named, not both
        2: [("Administrative", 1.5), ("Administrative_Duration", 1.4), ("BounceRates", -0.6)],
        3: [("MntMeatProducts", 2.0), ("NumWebVisitsMonth", -1.9)],
    })
    assert names[0] == "High page values, low bounce rates"       # told apart within 40 characters
    assert names[1] == "High page values, high bounce rates"
    assert names[2] == "Many administrative, low bounce rates"
    assert names[3] == "Big spenders on meat products"           # the second part would pass 40 characters
    for name in names.values():
        assert "recent" not in name.lower() or "lapsed" not in name.lower()


def test_names_in_another_order_count_as_the_same_name():
    spec = _shoppers_spec()
    names = _named(spec, {0: [("PageValues", 1.2), ("BounceRates", -0.9), ("Recency", 0.5)],
                          1: [("BounceRates", -1.0), ("PageValues", 0.9), ("Recency", -0.5)]})
    assert names == {0: "High page values, lapsed buyers", 1: "Low bounce rates, recent buyers"}


def test_a_table_of_snapshots_counts_each_customer_once_as_of_the_latest_cutoff():
    from core.pipeline.steps import latest_snapshot_rows
    from core.runs.results import Manifest
    spec = _shoppers_spec()
    spec = type(spec)(**{**spec.__dict__, "snapshot_column": "cutoff", "target": "bought"})
    n = 90
    df = pd.DataFrame({c: np.arange(n, dtype=float) % 7 for c in spec.feature_names})
    df["cutoff"] = np.repeat(["2024-01-01", "2024-04-01", "2024-07-01"], 30)  # 30 customers, 3 cutoffs each
    df["bought"] = np.r_[np.zeros(60), np.ones(10), np.zeros(20)]
    seg = np.tile(np.repeat([0, 1], 15), 3)
    prof = profiling.profile_segments(df, seg, spec, latest_snapshot_rows(df, spec))
    assert [p["size"] for p in prof] == [15, 15] and sum(p["share"] for p in prof) == pytest.approx(1.0)
    assert prof[0]["purchase_rate"] == pytest.approx(10 / 15)       # the latest snapshot's outcomes, not 10/45
    assert latest_snapshot_rows(df.drop(columns="cutoff"), _shoppers_spec()) is None
    base = dict(run_format=1, run_id="r", created_at="t", dataset="d", data_path="p", data_hash="h", rows=90, seed=0,
                settings={}, spec={}, versions={}, timings_s={}, n_segments=2, segmentation_method="m")
    assert Manifest(**base).customers == 90
    snaps = [{"cutoff": "2024-07-01", "customers": 30}, {"cutoff": "2024-04-01", "customers": 28}]
    assert Manifest(**base, source={"snapshots": snaps}).customers == 30
