import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from core.inputs.shopsphere_spec import shopsphere_spec
from core.inputs.synthetic import shopsphere


@pytest.fixture(scope="module")
def big():
    return shopsphere.generate(100_000, seed=11)


def test_columns_are_the_spec(big):
    spec = shopsphere_spec()
    expected = ["customer_id", *spec.feature_names, "purchased_next_30d", "_persona", "_true_propensity"]
    assert list(big.columns) == expected
    assert len(spec.feature_names) == 25
    groups = pd.Series([c.group for c in spec.columns]).value_counts().to_dict()
    assert groups == {"demographics": 5, "behavioral": 9, "transactional": 8, "support": 3}


def test_rates_and_missing_shares(big):
    assert abs(big["purchased_next_30d"].mean() - 0.18) < 0.005
    assert abs(big["_true_propensity"].mean() - 0.18) < 0.005
    for col in ("age_band", "region", "acquisition_channel", "device_type", "income_band"):
        assert big[col].isna().mean() == pytest.approx(0.03, abs=1e-9)
    assert big["avg_session_duration"].isna().mean() == pytest.approx(0.06, abs=1e-9)
    assert big["csat_score"].isna().mean() == pytest.approx(0.12, abs=1e-9)


def test_ranges_and_constraints(big):
    assert (big["email_clicks_90d"] <= big["email_opens_90d"]).all()
    assert (big["orders_90d"] <= big["orders_12m"]).all()
    for col in ("discount_usage_rate", "refund_rate"):
        assert big[col].between(0, 1).all()
    assert big["csat_score"].dropna().isin([1, 2, 3, 4, 5]).all()
    assert set(big["push_opt_in"].unique()) <= {0, 1}
    assert set(big["age_band"].dropna()) == set(shopsphere.AGE_BANDS)
    assert set(big["acquisition_channel"].dropna()) == set(shopsphere.CHANNELS)
    assert big["customer_id"].is_unique
    aov = big["avg_order_value"]
    assert aov.quantile(0.99) > 4 * aov[aov > 0].median()  # long right tail


def test_csat_missing_more_for_less_engaged(big):
    miss = big["csat_score"].isna()
    none_ordered = big["orders_12m"] == 0
    assert miss[none_ordered].mean() > 2 * miss[~none_ordered].mean()


def test_same_seed_same_table_other_seed_differs():
    a, b, c = shopsphere.generate(2000, 5), shopsphere.generate(2000, 5), shopsphere.generate(2000, 6)
    pd.testing.assert_frame_equal(a, b)
    assert not a["purchased_next_30d"].equals(c["purchased_next_30d"])


def test_true_propensity_is_the_oracle(big):
    # The oracle ranks far better than chance and its calibration holds by decile.
    y, p = big["purchased_next_30d"], big["_true_propensity"]
    assert roc_auc_score(y, p) > 0.85
    dec = pd.qcut(p, 10, labels=False)
    observed = y.groupby(dec).mean()
    predicted = p.groupby(dec).mean()
    assert np.abs(observed - predicted).max() < 0.02


def test_true_propensity_quadrature_matches_monte_carlo():
    logit = np.array([-3.0, 0.0, 2.5])
    rng = np.random.default_rng(0)
    e = rng.standard_normal(400_000) * shopsphere.NOISE_SD
    mc = (1 / (1 + np.exp(-(logit[:, None] + e[None, :])))).mean(axis=1)
    np.testing.assert_allclose(shopsphere.true_propensity(logit), mc, atol=2e-3)


def test_rows_below_minimum_raise():
    with pytest.raises(ValueError, match="at least 100"):
        shopsphere.generate(10)


def test_month_option_keeps_month_0_and_evolves_the_same_customers():
    from core.inputs.tables import frame_hash

    base = shopsphere.generate(3000, seed=5)
    assert frame_hash(shopsphere.generate(3000, seed=5, month=0)) == frame_hash(base)
    m1 = shopsphere.generate(3000, seed=5, month=1)
    m2 = shopsphere.generate(3000, seed=5, month=2)
    kept = set(base["customer_id"]) & set(m1["customer_id"])
    assert 0.97 * len(base) <= len(kept) < len(base)               # about 1% left
    new = set(m1["customer_id"]) - set(base["customer_id"])
    assert len(new) == round(0.02 * len(kept)) and min(new) > base["customer_id"].max()  # 2% joined, new ids
    assert set(m1["customer_id"]) - set(m2["customer_id"]) and len(m2) > len(m1)
    same = base.merge(m1, on="customer_id", suffixes=("", "_1"))
    moved = (same["_persona"] != same["_persona_1"]).mean()
    assert 0.03 < moved < 0.15                                     # a few personas change each month
    assert abs(m1["purchased_next_30d"].mean() - base["purchased_next_30d"].mean()) < 0.03
    assert frame_hash(shopsphere.generate(3000, seed=5, month=1)) == frame_hash(m1)  # seeded
    with pytest.raises(ValueError, match="month"):
        shopsphere.generate(3000, seed=5, month=-1)
