"""The playbook: matrix revenue and traits, bands, actions, per-cell holdouts, feature
filters; column mapping of uploads; promote and roll back in the registry. Small frames,
no training."""
import json

import numpy as np
import pandas as pd
import pytest

from core.activation import cohorts, playbook, stats
from core.errors import DataError
from core.inputs.shopsphere_spec import shopsphere_spec
from core.inputs.tables import guess_mapping, map_columns
from core.runs import champions, store
from core.runs.results import RUN_FORMAT


@pytest.fixture(scope="module")
def cells():
    """600 customers over 3 segments with scores, deciles, outcomes and the playbook columns."""
    rng = np.random.default_rng(0)
    n = 600
    seg = rng.integers(0, 3, n)
    p = rng.uniform(0.01, 0.9, n)
    scored = pd.DataFrame({"customer_id": [f"C{i}" for i in range(n)], "segment_id": seg,
                           "segment_name": pd.Series(seg).map({0: "A", 1: "B", 2: "C"}), "propensity": p,
                           "propensity_decile": np.clip(10 - (p * 10).astype(int), 1, 10)})
    aov = np.where(rng.random(n) < 0.2, 0.0, rng.gamma(2, 30, n))  # 20% never ordered
    features = pd.DataFrame({"customer_id": scored["customer_id"], "avg_order_value": aov,
                             "discount_usage_rate": rng.random(n) * (1 + seg),
                             "total_spend_12m": rng.gamma(2, 100, n),
                             "region": rng.choice(["North", "South", None], n)})
    y = (rng.random(n) < p).astype(int)
    test = rng.random(n) < 0.5
    m = playbook.segment_matrix(scored, y, test, features, shopsphere_spec())
    return scored, features, y, test, m


def test_expected_revenue_is_expected_buyers_times_the_segments_order_value(cells):
    scored, features, _, _, m = cells
    aov = features["avg_order_value"].where(features["avg_order_value"] > 0).groupby(scored["segment_id"]).mean()
    for r in m.itertuples():
        in_cell = (scored["segment_id"] == r.segment_id) & (scored["propensity_decile"] == r.propensity_decile)
        assert r.customers == in_cell.sum()
        assert r.expected_buyers == pytest.approx(scored.loc[in_cell, "propensity"].sum())
        assert r.segment_aov == pytest.approx(aov[r.segment_id])
        assert r.expected_revenue == pytest.approx(r.expected_buyers * aov[r.segment_id])


def test_cell_traits_are_standardized_differences(cells):
    scored, features, _, _, m = cells
    d = features["discount_usage_rate"]
    r = m.iloc[5]
    in_cell = (scored["segment_id"] == r.segment_id) & (scored["propensity_decile"] == r.propensity_decile)
    assert r.discount_std_diff == pytest.approx((d[in_cell].mean() - d.mean()) / d.std())


def test_low_medium_high_cells_merge_exactly(cells):
    scored, _, y, test, m = cells
    b = playbook.banded_matrix(m, "low/medium/high", 0.10)
    band = pd.Series(playbook.band_of(scored["propensity_decile"]))
    direct = scored.assign(band=band, y=y, test=test).groupby(["segment_id", "band"])
    for r in b.itertuples():
        g = direct.get_group((r.segment_id, r.band))
        assert r.customers == len(g)
        assert r.mean_propensity == pytest.approx(g["propensity"].mean())
        assert r.expected_buyers == pytest.approx(g["propensity"].sum())
        assert r.observed_rate_test == pytest.approx(g.loc[g["test"], "y"].mean())
        assert r.holdout_per_group == stats.holdout_size(r.mean_propensity, 0.10)
        assert r.holdout_fits == (r.customers >= 2 * r.holdout_per_group)
    assert set(b["band"]) == {"high", "medium", "low"}
    assert len(playbook.banded_matrix(m, "deciles")) == len(m)
    with pytest.raises(ValueError, match="bands"):
        playbook.banded_matrix(m, "quintiles")


@pytest.mark.parametrize("band, discount_z, value_z, recency_z, action", [
    ("high", 0.5, None, None, "Full-price message"),
    ("high", 0.1, 2.0, None, "VIP early access"),
    ("high", 0.1, 0.2, 1.0, "Cross-sell, no incentive"),
    ("medium", 0.3, None, 1.0, "Targeted discount"),
    ("medium", 0.0, None, 0.3, "Timely nudge"),
    ("medium", float("nan"), None, None, "Personal reminder"),
    ("low", 2.0, 0.3, 0.5, "Personal win-back"),
    ("low", 2.0, 0.3, None, "Win-back"),
    ("low", 2.0, 0.29, None, "Low-cost deal reminder"),
    ("low", 0.29, 0.29, 2.0, "Suppress from paid channels"),
    ("low", None, None, None, "Suppress from paid channels"),
])
def test_playbook_rules(band, discount_z, value_z, recency_z, action):
    assert playbook.recommend_action(band, discount_z, value_z, recency_z)[0] == action


def test_unknown_band_is_refused():
    with pytest.raises(ValueError, match="band 'top'"):
        playbook.recommend_action("top", 0, 0)


def test_feature_filters_match_pandas(cells):
    _, features, _, _, _ = cells
    mask = cohorts.feature_mask(features, {"total_spend_12m": (100.0, 300.0), "region": ["North"]})
    direct = features["total_spend_12m"].between(100, 300) & (features["region"] == "North")
    assert (mask == direct.to_numpy()).all() and mask.sum() > 0
    flags = pd.DataFrame({"push_opt_in": [0.0, 1.0, np.nan, 1.0]})
    assert cohorts.feature_mask(flags, {"push_opt_in": ["1"]}).tolist() == [False, True, False, True]
    with pytest.raises(KeyError, match="'nope'"):
        cohorts.feature_mask(features, {"nope": (0, 1)})


def test_column_mapping_of_an_upload():
    spec = shopsphere_spec()
    raw = pd.DataFrame({"Customer ID": [1, 2], "ORDERS_90D": [3, 4], "spend": [10.0, 20.0], "other": [0, 0]})
    guess = guess_mapping(raw.columns, spec)
    assert guess["customer_id"] == "Customer ID" and guess["orders_90d"] == "ORDERS_90D"
    assert guess["total_spend_12m"] is None
    out = map_columns(raw, {**guess, "total_spend_12m": "spend"}, spec, source="up.csv")
    assert out["customer_id"].tolist() == ["1", "2"] and out["total_spend_12m"].tolist() == [10.0, 20.0]
    assert "other" in out and "spend" not in out
    with pytest.raises(DataError, match="up.csv: column 'spend' is mapped to more than one"):
        map_columns(raw, {**guess, "total_spend_12m": "spend", "avg_order_value": "spend"}, spec, source="up.csv")
    with pytest.raises(DataError, match="column 'gone'"):
        map_columns(raw, {"customer_id": "gone"}, spec, source="up.csv")


def _fake_runs(art, ids):
    """Run folders with every file of a run: empty tables and JSON, but of the right
    kinds, and model parts of the right kinds (promote refuses a run whose parts are not what the product writes)."""
    import numpy as np
    import skops.io as sio
    from sklearn.preprocessing import StandardScaler

    from core.runs import safeformat

    for rid in ids:
        d = store.runs_dir(art) / rid
        d.mkdir(parents=True)
        for f in store.RUN_FILES:
            (d / f).write_text("{}")
        for f in ("scored.parquet", "matrix.parquet"):
            pd.DataFrame({"customer_id": []}).to_parquet(d / f)
        (d / "xgboost.json").write_text(json.dumps({"learner": {}}))
        sio.dump(StandardScaler(), d / "segmenter_preprocessor.skops")
        safeformat.dump_arrays({"x": np.zeros(3)}, d / "segmenter_reference.npz")
        (store.runs_dir(art) / rid / "manifest.json").write_text(json.dumps({"run_id": rid, "run_format": RUN_FORMAT}))


def test_promote_and_rollback_walk_the_champions(tmp_path):
    a, b, c = "20260101-000000-aaaaaa", "20260201-000000-bbbbbb", "20260301-000000-cccccc"
    _fake_runs(tmp_path, [a, b, c])
    for rid in (a, b, c):  # as training makes each current
        tmp = store.begin_run(tmp_path, rid + "x")
        store.abort_run(tmp)
        store.set_current(tmp_path, rid, "train")
    assert store.current_run_id(tmp_path) == c
    assert champions.rollback(tmp_path) == b
    assert champions.rollback(tmp_path) == a
    with pytest.raises(DataError, match="no earlier champion"):
        champions.rollback(tmp_path)
    assert champions.promote(tmp_path, c) == a
    assert champions.rollback(tmp_path) == a  # c rolled back again: b stays retired
    with pytest.raises(DataError, match="already the current run"):
        champions.promote(tmp_path, a)
    with pytest.raises(DataError, match="not found"):
        champions.promote(tmp_path, "20260401-000000-dddddd")
    with pytest.raises(DataError, match="is not a run id"):
        champions.promote(tmp_path, "")
    _fake_runs(tmp_path, ["20260501-000000-eeeeee", "20260601-000000-ffffff"])
    (store.runs_dir(tmp_path) / "20260501-000000-eeeeee" / "scoring.json").unlink()
    with pytest.raises(DataError, match="incomplete: scoring.json is missing"):
        champions.promote(tmp_path, "20260501-000000-eeeeee")
    (store.runs_dir(tmp_path) / "20260601-000000-ffffff" / "manifest.json").write_text("xx")
    with pytest.raises(DataError, match="damaged"):
        champions.promote(tmp_path, "20260601-000000-ffffff")
    store.abort_run(store.runs_dir(tmp_path) / "20260501-000000-eeeeee")
    store.abort_run(store.runs_dir(tmp_path) / "20260601-000000-ffffff")
    actions = [e["action"] for e in champions.champion_history(tmp_path)]
    assert actions == ["train", "train", "train", "rollback", "rollback", "promote", "rollback"]
    hist = store.run_history(tmp_path)
    assert hist["run_id"].tolist() == [c, b, a] and hist["current"].tolist() == [False, False, True]
