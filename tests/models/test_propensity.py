"""Propensity: exact fast TreeSHAP, reasons, intervals, calibration, capture/budget/profit,
grade, leakage guard, out-of-time split, tuning, and the spec check at scoring."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.metrics import roc_auc_score

from core.errors import DataError
from core.inputs.shopsphere_spec import shopsphere_spec
from core.inputs.synthetic import shopsphere
from core.inputs.validation import validate
from core.models import evaluation, explain, propensity
from core.models.fastshap import TreeShapPatterns
from core.models.features import learn_categories, model_frame
from core.settings import PropensitySettings

SPEC = shopsphere_spec()


@pytest.fixture(scope="module")
def table():
    clean, _ = validate(shopsphere.generate(3000, seed=11), SPEC, require_target=True)
    cats = learn_categories(clean, SPEC)
    X, _ = model_frame(clean, SPEC, cats)
    return clean, cats, X


@pytest.mark.parametrize("depth,trees", [(2, 60), (3, 40), (4, 30), (6, 10)])
def test_pattern_treeshap_equals_xgboost_treeshap(table, depth, trees):
    clean, _, X = table
    m = xgb.XGBClassifier(n_estimators=trees, max_depth=depth, learning_rate=0.2, enable_categorical=True,
                          max_cat_to_onehot=1, tree_method="hist", random_state=0).fit(X, clean[SPEC.target])
    b = m.get_booster()
    rows = X.iloc[:700].copy()
    rows.iloc[::7, rows.columns.get_loc("csat_score")] = np.nan   # missing values take the default branch
    rows.iloc[::5, rows.columns.get_loc("region")] = np.nan        # and so do missing categories
    ref = b.predict(xgb.DMatrix(rows, enable_categorical=True), pred_contribs=True)[:, :-1]
    ours = TreeShapPatterns(b, trees).shap_values(rows)
    np.testing.assert_allclose(ours, ref, atol=1e-5)
    # the same in threaded chunks
    np.testing.assert_allclose(explain.contributions(TreeShapPatterns(b, trees), rows, n_jobs=2, min_rows=100), ref,
                               atol=1e-5)


def test_reason_texts_plain_english_with_value_and_direction():
    X = pd.DataFrame({"orders_90d": [4.0, 0.0], "days_since_last_order": [210.0, np.nan],
                      "region": pd.Categorical(["north", None], categories=["north", "south"]),
                      "discount_usage_rate": [0.25, 0.5]})
    contrib = np.array([[0.8, -0.5, 0.1, 0.0],
                        [0.0, -0.3, 0.2, 0.05]])
    r = explain.reason_texts(X, contrib, SPEC)
    assert r.loc[0, "reason_1"] == "Ordered 4 times in the last 90 days (raises)"
    assert r.loc[0, "reason_2"] == "Last order 210 days ago (lowers)"
    assert r.loc[0, "reason_3"] == "Lives in the north region (raises)"
    assert r.loc[1, "reason_1"] == "Days since the last order: not recorded (lowers)"
    assert r.loc[1, "reason_2"] == "Region: not recorded (raises)"
    assert r.loc[1, "reason_3"] == "Used a discount on 50% of orders (raises)"
    assert r.loc[0, "reason_1_feature"] == "orders_90d"


def test_reason_texts_say_one_day_not_one_days():
    X = pd.DataFrame({"orders_90d": [1.0, 11.0], "days_since_last_order": [1.0, 21.0]})
    r = explain.reason_texts(X, np.array([[0.8, -0.5], [0.8, -0.5]]), SPEC, k=2)
    assert r.loc[0, "reason_1"] == "Ordered 1 time in the last 90 days (raises)"
    assert r.loc[0, "reason_2"] == "Last order 1 day ago (lowers)"
    assert r.loc[1, "reason_2"] == "Last order 21 days ago (lowers)"
    assert [explain.singular(t) for t in (" categories", " emails in 90 days", " was late", " class", " series", " is", "")] == \
        [" category", " email in 90 days", " was late", " class", " series", " is", ""]


def test_reason_slot_left_empty_when_the_feature_has_no_effect():
    X = pd.DataFrame({"orders_90d": [1.0], "tickets_12m": [2.0]})
    r = explain.reason_texts(X, np.array([[0.4, 0.0]]), SPEC, k=2)
    assert r.loc[0, "reason_1"].endswith("(raises)") and r.loc[0, "reason_2"] == ""


def test_calibration_fixes_a_distorted_score_and_leaves_a_calibrated_one():
    rng = np.random.default_rng(2)
    true = rng.beta(2, 6, 20000)
    y = (rng.random(20000) < true).astype(int)
    cal = propensity.fit_calibrator(true, y, seed=0)
    assert cal["method"] in ("none", "platt")  # nothing to fix: no method beats it by much
    distorted = true ** 2.5
    cal = propensity.fit_calibrator(distorted, y, seed=0)
    assert cal["method"] in ("platt", "isotonic")
    assert evaluation.expected_calibration_error(y, distorted) > 0.1
    assert evaluation.expected_calibration_error(y, propensity.apply_calibrator(cal, distorted)) < 0.02
    few = propensity.fit_calibrator(distorted[:3000], y[:3000], seed=0)  # ~750 positives: no isotonic
    assert "isotonic" not in few["brier_cv"]


def test_leakage_guard_fires_on_a_leaky_column_and_on_a_future_name(table):
    clean, _, _ = table
    y = clean[SPEC.target].to_numpy()
    rows = np.ones(len(y), dtype=bool)
    aucs = propensity.leakage_check(clean, SPEC, y, rows)
    assert max(aucs.values()) < 0.95
    leaky = clean.assign(refund_rate=y + np.random.default_rng(0).normal(0, 0.05, len(y)))
    with pytest.raises(DataError, match="column 'refund_rate': alone it predicts the target with ROC-AUC"):
        propensity.leakage_check(leaky, SPEC, y, rows)
    # a leak carried by blanks: filled only for buyers
    blank_leak = clean.assign(refund_rate=np.where(y == 1, 0.1, np.nan))
    with pytest.raises(DataError, match="column 'refund_rate': alone it predicts"):
        propensity.leakage_check(blank_leak, SPEC, y, rows)
    # many random categories are not a leak (their rates are estimated out of fold)
    codes = clean.assign(region=np.random.default_rng(1).integers(0, 1500, len(y)).astype(str))
    assert propensity.leakage_check(codes, SPEC, y, rows)["region"] < 0.6
    allowed = dataclasses.replace(SPEC, allow_leaky=("refund_rate",))
    propensity.leakage_check(leaky, allowed, y, rows)  # explicitly allowed: passes
    cols = tuple(dataclasses.replace(c, name="orders_next_30d") if c.name == "orders_90d" else c for c in SPEC.columns)
    future = dataclasses.replace(SPEC, columns=cols, recency_column=None)
    with pytest.raises(DataError, match="column 'orders_next_30d': its name says it is measured after"):
        propensity.leakage_check(clean.rename(columns={"orders_90d": "orders_next_30d"}), future, y, rows)


def test_out_of_time_split_tests_on_the_latest_snapshot():
    rng = np.random.default_rng(4)
    y = (rng.random(3000) < 0.3).astype(int)
    snap = pd.Series(np.repeat(pd.to_datetime(["2026-08-31", "2026-09-30", "2026-10-31"]), 1000))
    split = propensity.split_rows(y, PropensitySettings(), 0, snap)
    assert (split[2000:] == "test").all() and not (split[:2000] == "test").any()
    assert set(split[:2000]) == {"train", "val"}
    small = pd.Series(pd.to_datetime(["2026-09-30"] * 2990 + ["2026-10-31"] * 10))
    with pytest.raises(DataError, match="need at least 50 of each to test on"):
        propensity.split_rows(y, PropensitySettings(), 0, small)
    with pytest.raises(DataError, match="two snapshots"):
        propensity.split_rows(y, PropensitySettings(), 0, pd.Series(pd.to_datetime(["2026-10-31"] * 3000)))


def test_snapshot_column_kept_by_validation_and_checked():
    spec = dataclasses.replace(SPEC, snapshot_column="snapshot_date")
    df = shopsphere.generate(300, seed=2)
    df["snapshot_date"] = np.where(np.arange(300) < 200, "2026-09-30", "2026-10-31")
    df.loc[200:, "customer_id"] = df.loc[:99, "customer_id"].to_numpy()  # the same customers a month later
    clean, q = validate(df, spec, require_target=True)
    assert clean["snapshot_date"].nunique() == 2 and "snapshot_date" not in q["extra_columns"]
    assert clean["customer_id"].iloc[200] == df["customer_id"].iloc[0] + "@2026-10-31"
    df.loc[201, "customer_id"] = df.loc[200, "customer_id"]
    with pytest.raises(DataError, match="duplicate id and snapshot"):
        validate(df, spec, require_target=True)
    df.loc[201, "customer_id"] = df.loc[1, "customer_id"]
    df.loc[5, "snapshot_date"] = "soon"
    with pytest.raises(DataError, match="snapshot column 'snapshot_date': 'soon' at row 6"):
        validate(df, spec, require_target=True)


def test_tuning_is_seeded_and_keeps_its_trials(table):
    clean, cats, _ = table
    y = clean[SPEC.target].to_numpy()
    split = propensity.split_rows(y, PropensitySettings(), 0)
    ps = PropensitySettings(n_estimators=200, tune_trials=3, cv_below_val_positives=0)
    a = propensity.fit(clean, SPEC, split, cats, ps, 5)
    b = propensity.fit(clean, SPEC, split, cats, ps, 5)
    assert a.info["params"] == b.info["params"] and len(a.info["trials"]) == 3
    assert a.info["validation"] == "holdout" and a.info["tuning_stopped_by_time"] is False
    # the time cap cuts the search short, and the run says so
    capped = propensity.fit(clean, SPEC, split, cats, dataclasses.replace(ps, tune_trials=10, tune_min_trials=10,
                                                                          tune_seconds=1e-6), 5)
    assert capped.info["tuning_stopped_by_time"] is True and len(capped.info["trials"]) < 10
    assert {"val_log_loss", "val_pr_auc", "max_depth", "learning_rate"} <= set(a.info["trials"][0])
    np.testing.assert_array_equal(a.predict(clean.iloc[:100], SPEC)[0], b.predict(clean.iloc[:100], SPEC)[0])
    # a small validation set switches to cross-validation
    c = propensity.fit(clean, SPEC, split, cats, dataclasses.replace(ps, cv_below_val_positives=10_000), 5)
    assert c.info["validation"] == "cross-validation" and c.info["cv_folds"] == 5


def test_evaluation_tables_on_the_test_rows(table):
    clean, cats, _ = table
    y = clean[SPEC.target].to_numpy()
    ps = PropensitySettings(n_estimators=200, tune_trials=2, bootstrap_resamples=100)
    split = propensity.split_rows(y, ps, 0)
    m = propensity.fit(clean, SPEC, split, cats, ps, 0)
    ev = propensity.evaluate(m, clean, SPEC, split, ps, 0)
    keys = [r["key"] for r in ev["comparison"]]
    assert keys == ["recency", "logistic", "xgboost_uncalibrated", "xgboost", "oracle"]
    te = split == "test"
    assert ev["xgboost"]["roc_auc"] == pytest.approx(roc_auc_score(y[te], m.predict(clean.loc[te], SPEC)[0]))
    rec = ev["recency"]
    assert rec["roc_auc"] == pytest.approx(roc_auc_score(y[te], -clean.loc[te, "days_since_last_order"].fillna(
        clean.loc[te, "days_since_last_order"].max())))
    assert rec["log_loss"] is None
    assert len(ev["calibration"]["before"]) >= 3 and ev["grade"]["grade"] in ("Excellent", "Good", "Fair", "Poor")
    assert [c["buyers_share"] for c in ev["capture"]] == [0.5, 0.7, 0.9]


def test_values_beyond_float32_are_missing_and_blank_columns_are_noted():
    from core.inputs.validation import quality_notes

    df = shopsphere.generate(200, seed=5)
    df = df.astype({"orders_90d": float})
    df.loc[3, "orders_90d"] = 1e300  # finite in float64, infinite in float32 (how XGBoost stores inputs)
    df["csat_score"] = np.nan
    clean, q = validate(df.drop(columns="purchased_next_30d"), SPEC, require_target=False)
    assert np.isnan(clean.loc[3, "orders_90d"]) and q["inf_to_missing"] == {"orders_90d": 1}
    notes = quality_notes(q, {})
    assert "column 'orders_90d': 1 infinite or too large value(s) treated as missing" in notes
    assert any(n.startswith("column 'csat_score' is empty in every row: scored as missing") for n in notes)
    assert not any("repeat another row" in n for n in notes)  # a training-only note


def test_years_are_shown_without_a_thousands_separator():
    assert explain.format_values(np.array([1989.0, np.nan]), "numeric", "year").tolist() == ["1989", "not recorded"]
    assert explain.format_values(np.array([12345.0]), "currency").tolist() == ["12,345"]


def test_trials_fit_on_a_stratified_sample_of_the_train_rows():
    from core.models.propensity import tune_rows

    y = (np.arange(10_000) % 5 == 0).astype(int)             # 20% positive
    train = np.arange(10_000) < 8_000
    assert tune_rows(y, train, 8_000, 0) is None and tune_rows(y, train, 0, 0) is None
    rows = tune_rows(y, train, 2_000, 0)
    assert len(rows) == 2_000 and (np.diff(rows) > 0).all() and train[rows].all()
    assert y[rows].sum() == 400                                # the train rows' 20%, exactly
    np.testing.assert_array_equal(rows, tune_rows(y, train, 2_000, 0))   # seeded
    assert not np.array_equal(rows, tune_rows(y, train, 2_000, 1))


def test_propensity_beats_chance_and_baseline_reported(prepared):
    spec, clean, cats = prepared
    y = clean[spec.target].to_numpy()
    split = propensity.split_rows(y, PropensitySettings(), seed=0)
    assert (split == "test").mean() == pytest.approx(0.15, abs=0.01)
    ps = PropensitySettings(n_estimators=300, learning_rate=0.1, tune_trials=3, bootstrap_resamples=100)
    models = propensity.fit(clean, spec, split, cats, ps, 0)
    metrics = propensity.evaluate(models, clean, spec, split, ps, 0)
    assert metrics["xgboost"]["roc_auc"] > 0.8
    assert metrics["logistic"]["roc_auc"] > 0.8
    p, unseen = models.predict(clean.iloc[:50], spec)
    assert p.shape == (50,) and ((p > 0) & (p < 1)).all() and unseen == {}


def test_too_few_positives_refused():
    y = np.r_[np.ones(5), np.zeros(500)]
    with pytest.raises(DataError, match="5 positives"):
        propensity.split_rows(y, PropensitySettings(), 0)


def test_trial_budget_scales_with_the_table():
    s = PropensitySettings()   # 20 trials at 50,000 train + validation rows and above, at least 10
    assert propensity.trial_budget(s, 204_000) == 20 and propensity.trial_budget(s, 50_000) == 20
    assert propensity.trial_budget(s, 37_500) == 15 and propensity.trial_budget(s, 10_200) == 10
    assert propensity.trial_budget(s, 1_900) == 10
    assert propensity.trial_budget(PropensitySettings(tune_trials=4, tune_min_trials=10), 1_000) == 4


def test_unseen_category_scores_as_missing(prepared):
    spec, clean, cats = prepared
    X, unseen = model_frame(clean.assign(region="atlantis").iloc[:5], spec, cats)
    assert unseen == {"region": 5}
    assert X["region"].isna().all()


def test_treeshap_matches_the_shap_library(prepared):
    import shap
    import xgboost as xgb

    from core.models.explain import shap_importance, shap_values

    spec, clean, cats = prepared
    X, _ = model_frame(clean, spec, cats)
    m = xgb.XGBClassifier(n_estimators=40, max_depth=4, enable_categorical=True, tree_method="hist",
                          max_cat_to_onehot=1, random_state=0).fit(X, clean[spec.target])
    ours, base = shap_values(m.get_booster(), X.iloc[:300])
    ref = shap.TreeExplainer(m).shap_values(X.iloc[:300])
    np.testing.assert_allclose(ours, ref, atol=1e-5)
    # SHAP values add up to the model's log-odds
    margin = m.get_booster().predict(xgb.DMatrix(X.iloc[:300], enable_categorical=True), output_margin=True)
    np.testing.assert_allclose(ours.sum(axis=1) + base, margin, atol=1e-4)
    imp = shap_importance(m.get_booster(), X.iloc[:300], spec)
    assert imp["mean_abs_shap"].is_monotonic_decreasing
    assert imp.loc[imp["feature"] == "orders_90d", "mean_abs_shap"].item() == pytest.approx(np.abs(ref[:, X.columns.get_loc("orders_90d")]).mean(), rel=1e-4)


@pytest.mark.parametrize("rows,positives", [(30, 5), (2000, 3)])
def test_too_little_to_learn_from_is_refused(rows, positives):
    y = np.zeros(rows, dtype=int)
    y[:positives] = 1
    with pytest.raises(DataError, match=rf"{positives} positives and {rows - positives} negatives \(need at least 100 of each\)"):
        propensity.split_rows(y, PropensitySettings(), 0)
