"""Scoring with a run: unseen categories, infinite values, column drift, columns empty at training, batch invariance, the Dask engine."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.cli import main
from core.errors import DataError
from core.inputs.shopsphere_spec import shopsphere_spec
from core.inputs.synthetic import shopsphere
from core.inputs.validation import validate
from core.models import propensity
from core.models.features import learn_categories
from core.settings import PropensitySettings
from tests.support import slow_fixture

SPEC = shopsphere_spec()


@pytest.fixture(scope="module")
def four_channel_model():
    """XGBoost trained where acquisition_channel only takes 4 levels."""
    df = shopsphere.generate(3000, seed=21)
    keep = ["email", "organic_search", "paid_search", "social"]
    df["acquisition_channel"] = np.where(df["acquisition_channel"].isin(keep), df["acquisition_channel"],
                                         np.array(keep, dtype=object)[np.arange(len(df)) % 4])
    clean, _ = validate(df, SPEC, require_target=True)
    cats = learn_categories(clean, SPEC)
    split = propensity.split_rows(clean[SPEC.target].to_numpy(), PropensitySettings(), 0)
    models = propensity.fit(clean, SPEC, split, cats, PropensitySettings(n_estimators=200, learning_rate=0.1,
                                                                          tune_trials=2), 0)
    return clean, models


def test_unseen_categories_score_exactly_as_missing(four_channel_model):
    clean, models = four_channel_model
    assert models.categories["acquisition_channel"] == ["email", "organic_search", "paid_search", "social"]
    rows = clean.iloc[:4].copy()
    # before, between and after the training levels; "affiliate" is a valid spec level never seen in training
    new_levels = ["affiliate_new", "pinterest", "tv", "zzz"]
    p_new, unseen = models.predict(rows.assign(acquisition_channel=new_levels), SPEC)
    p_missing, none = models.predict(rows.assign(acquisition_channel=None), SPEC)
    np.testing.assert_array_equal(p_new, p_missing)
    assert unseen == {"acquisition_channel": 4} and none == {}
    p_declared, unseen2 = models.predict(rows.assign(acquisition_channel="affiliate"), SPEC)
    np.testing.assert_array_equal(p_declared, p_missing)
    assert unseen2 == {"acquisition_channel": 4}
    # the baseline's one-hot encoding also scores them as a blank
    np.testing.assert_allclose(models.predict_baseline(rows.assign(acquisition_channel=new_levels)),
                               models.predict_baseline(rows.assign(acquisition_channel=None)))


def test_infinite_values_are_missing_at_training_and_scoring(four_channel_model):
    clean, models = four_channel_model
    df = shopsphere.generate(200, seed=4)
    df.loc[[0, 1], "avg_order_value"] = [np.inf, -np.inf]
    for require_target in (True, False):
        c, q = validate(df, SPEC, require_target=require_target)
        assert np.isnan(c.loc[[0, 1], "avg_order_value"]).all()
        assert q["inf_to_missing"] == {"avg_order_value": 2}
    c, _ = validate(df, SPEC, require_target=False)
    p_inf, _ = models.predict(c.iloc[:2], SPEC)
    p_nan, _ = models.predict(c.iloc[:2].assign(avg_order_value=np.nan), SPEC)
    np.testing.assert_array_equal(p_inf, p_nan)


def test_column_drift_at_scoring(trained, small_table):
    from core.pipeline.scoring import score

    art, run = trained
    new = small_table.drop(columns="purchased_next_30d").head(300)
    base, _ = score(new, run)
    reordered, _ = score(new[new.columns[::-1]], run)
    same = lambda a, b: pd.testing.assert_frame_equal(a.drop(columns="scored_at"), b.drop(columns="scored_at"))  # noqa: E731
    same(base, reordered)
    extra, rep = score(new.assign(loyalty_tier="gold"), run)
    same(base, extra)
    assert rep["quality"]["extra_columns"] == ["loyalty_tier"]
    with pytest.raises(DataError, match="missing required column 'tickets_12m'"):
        score(new.drop(columns="tickets_12m"), run)


@slow_fixture(scope="module")
def run_with_empty_column(tmp_path_factory):
    from core.pipeline.training import train
    from tests.support import small_settings

    df = shopsphere.generate(3000, seed=31)
    df["wishlist_adds_90d"] = np.nan  # entirely empty at training
    p = tmp_path_factory.mktemp("d") / "empty_col.csv"
    df.to_csv(p, index=False)
    art = tmp_path_factory.mktemp("a")
    return df, train(p, None, small_settings(art))


def test_column_empty_at_training_filled_now_is_warned_not_shifted(run_with_empty_column):
    from core.inputs.validation import quality_notes
    from core.pipeline.scoring import score

    df, run = run_with_empty_column
    assert "wishlist_adds_90d" in run.scoring().empty_at_training
    assert "wishlist_adds_90d" in run.metrics().segmentation.empty_inputs_left_out
    new = df.drop(columns="purchased_next_30d").head(500)
    blank, _ = score(new, run)
    filled, rep = score(new.assign(wishlist_adds_90d=np.arange(500) % 7), run)
    pd.testing.assert_frame_equal(blank.drop(columns="scored_at"), filled.drop(columns="scored_at"))  # nothing shifted
    assert rep["quality"]["filled_empty_columns"] == {"wishlist_adds_90d": 500}
    assert any(n.startswith("column 'wishlist_adds_90d' was empty") for n in quality_notes(rep["quality"], {}))


def test_batch_invariance(trained, small_table):
    from core.pipeline.scoring import score

    art, run = trained
    train_scored = run.table("scored").set_index("customer_id")
    others = shopsphere.generate(10_000, seed=99).drop(columns="purchased_next_30d")
    others["customer_id"] = "X" + others["customer_id"]
    for i in (0, 123, 3999):
        row = small_table.iloc[[i]].drop(columns="purchased_next_30d")
        alone, _ = score(row, run)
        batch, _ = score(pd.concat([others.iloc[:5000], row, others.iloc[5000:9999]], ignore_index=True), run)
        assert len(batch) == 10_000
        in_batch = batch.set_index("customer_id").loc[row["customer_id"].iloc[0]]
        cid = row["customer_id"].iloc[0]
        for col in ("segment_id", "propensity", "propensity_decile", "segment_confidence"):
            assert alone[col].iloc[0] == in_batch[col] == train_scored.loc[cid, col], col


def test_dask_engine_equals_single_process_row_for_row(trained, small_table, tmp_path):
    import pandas as pd

    art, run = trained
    parts = tmp_path / "parts"
    parts.mkdir()
    src = small_table.drop(columns=["purchased_next_30d"])
    for i, start in enumerate(range(0, len(src), 1000)):
        src.iloc[start:start + 1000].to_parquet(parts / f"part-{i:03d}.parquet", index=False)
    for engine, out in (("pandas", "single.parquet"), ("dask", "dask.parquet")):
        assert main(["--artifacts", str(art), "score", "--data", str(parts), "--out", str(tmp_path / out),
                     "--engine", engine, "--workers", "2"]) == 0
    single, dask = pd.read_parquet(tmp_path / "single.parquet"), pd.read_parquet(tmp_path / "dask.parquet")
    assert len(dask) == len(src) == len(single)
    pd.testing.assert_frame_equal(dask.drop(columns="scored_at"), single.drop(columns="scored_at"))
    assert dask["scored_at"].nunique() == 1
