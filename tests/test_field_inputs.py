"""Issue 3: inputs from the field, one test per kind of input (named after the case)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.errors import DataError
from core.inputs.shopsphere_spec import shopsphere_spec
from core.inputs.synthetic import shopsphere
from core.inputs.validation import load, validate
from core.models import evaluation, propensity
from core.models.features import learn_categories, model_frame
from core.settings import PropensitySettings

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


def test_case1_unseen_categories_score_exactly_as_missing(four_channel_model):
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


def test_case2_text_columns_under_pandas3_are_categoricals_from_the_spec(tmp_path):
    df = shopsphere.generate(300, seed=2)
    p = tmp_path / "t.csv"
    df.to_csv(p, index=False)
    raw = pd.read_csv(p)
    assert str(raw["region"].dtype) != "object"  # pandas 3 reads text as 'str'
    clean, _ = load(p, SPEC, require_target=True)
    X, _ = model_frame(clean, SPEC, learn_categories(clean, SPEC))
    assert isinstance(X["region"].dtype, pd.CategoricalDtype)
    assert X["region"].isna().sum() == df["region"].isna().sum()


def test_case3_infinite_values_are_missing_at_training_and_scoring(four_channel_model):
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


def test_case8_nullable_and_odd_values_follow_the_spec_rules():
    df = shopsphere.generate(200, seed=8)
    df["orders_12m"] = df["orders_12m"].astype("Int64")
    df.loc[3, "orders_12m"] = pd.NA
    df["push_opt_in"] = df["push_opt_in"].astype(bool).astype("boolean")
    df.loc[4, "push_opt_in"] = pd.NA
    df.loc[5, "total_spend_12m"] = -25.0      # refund: clipped to 0
    df.loc[6, "discount_usage_rate"] = 1.7    # rate above 1: clipped to 1
    df.loc[7, "csat_score"] = 0               # outside 1..5: set missing
    df.loc[8, "csat_score"] = 7
    clean, q = validate(df, SPEC, require_target=True)
    assert np.isnan(clean.loc[3, "orders_12m"]) and clean.loc[2, "orders_12m"] == df.loc[2, "orders_12m"]
    assert np.isnan(clean.loc[4, "push_opt_in"]) and clean.loc[0, "push_opt_in"] in (0.0, 1.0)
    assert clean.loc[5, "total_spend_12m"] == 0.0
    assert clean.loc[6, "discount_usage_rate"] == 1.0
    assert np.isnan(clean.loc[[7, 8], "csat_score"]).all()
    assert q["out_of_range"]["total_spend_12m"] == {"count": 1, "rule": "clip"}
    assert q["out_of_range"]["discount_usage_rate"] == {"count": 1, "rule": "clip"}
    assert q["out_of_range"]["csat_score"]["count"] == 2


def test_case9_pr_auc_is_average_precision():
    y = np.array([0, 1, 0, 0, 1, 0, 0, 0])
    assert evaluation.classification_metrics(y, np.full(8, 0.5))["pr_auc"] == pytest.approx(0.25)
    # step-wise AP for ranks 1(+) 2(-) 3(+): (1/1 + 2/3) / 2; the trapezoid area would differ
    p = np.array([0.1, 0.9, 0.8, 0.2, 0.7, 0.3, 0.05, 0.01])
    assert evaluation.classification_metrics(y, p)["pr_auc"] == pytest.approx((1 + 2 / 3) / 2)


@pytest.mark.parametrize("rows,positives", [(30, 5), (2000, 3)])
def test_case10_too_little_to_learn_from(rows, positives):
    y = np.zeros(rows, dtype=int)
    y[:positives] = 1
    with pytest.raises(DataError, match=rf"{positives} positives and {rows - positives} negatives \(need at least 100 of each\)"):
        propensity.split_rows(y, PropensitySettings(), 0)


def test_case7_column_drift_at_scoring(trained, small_table):
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


@pytest.fixture(scope="module")
def run_with_empty_column(tmp_path_factory):
    from conftest import small_settings

    from core.pipeline.training import train

    df = shopsphere.generate(3000, seed=31)
    df["wishlist_adds_90d"] = np.nan  # entirely empty at training
    p = tmp_path_factory.mktemp("d") / "empty_col.csv"
    df.to_csv(p, index=False)
    art = tmp_path_factory.mktemp("a")
    return df, train(p, None, small_settings(art))


def test_case7_column_empty_at_training_filled_now_is_warned_not_shifted(run_with_empty_column):
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


def _uniform_noise_table(rows, seed):
    rng = np.random.default_rng(seed)
    df = shopsphere.generate(rows, seed=seed)
    for c in SPEC.segmentation_columns:
        col = SPEC.column(c)
        lo, hi = (col.min or 0.0), (col.max if col.max is not None and col.max < 1000 else 100.0)
        df[c] = lo + (hi - lo) * rng.random(rows)
    return df


def test_case5_no_structure_runs_the_documented_fallback():
    from core.models.segmentation import Segmenter
    from core.settings import SegmentationSettings

    clean, _ = validate(_uniform_noise_table(2000, 5), SPEC, require_target=True)
    cfg = SegmentationSettings(method="umap+hdbscan", sample_size=2000, reference_size=1500, projection_size=300)
    seg = Segmenter(settings=cfg, random_state=0).fit(clean, SPEC, learn_categories(clean, SPEC))
    assert seg.method_ == "kmeans" and seg.fallback_reason_.startswith("no cluster structure")
    assert seg.fit_info_["hopkins"] < 0.55
    a = seg.assign(clean)
    assert a["segment_id"].nunique() == seg.n_segments_ >= 2 and len(a) == len(clean)
    # auto does not fit UMAP + HDBSCAN on it, and says why
    auto = Segmenter(settings=SegmentationSettings(sample_size=2000, reference_size=1500, projection_size=300),
                     random_state=0).fit(clean, SPEC, learn_categories(clean, SPEC))
    first = auto.fit_info_["method_comparison"][0]
    assert first["method"] == "umap+hdbscan" and first["segments"] is None and "no cluster structure" in first["note"]
    assert auto.method_ in ("kmeans", "gmm") and auto.fallback_reason_.startswith("no cluster structure")


def test_case5_five_uninformative_columns_do_not_break_segmentation():
    import dataclasses

    from core.inputs.spec import ColumnSpec
    from core.models.segmentation import Segmenter
    from core.settings import SegmentationSettings

    rng = np.random.default_rng(0)
    spec = dataclasses.replace(SPEC, columns=SPEC.columns + tuple(
        ColumnSpec(f"noise_{i}", "numeric", "behavioral") for i in range(5)))
    df = shopsphere.generate(3000, seed=12)
    for i in range(5):
        df[f"noise_{i}"] = rng.random(len(df))
    clean, _ = validate(df, spec, require_target=True)
    seg = Segmenter(settings=SegmentationSettings(method="umap+hdbscan", sample_size=3000, reference_size=2000,
                                                  projection_size=300),
                    random_state=0).fit(clean, spec, learn_categories(clean, spec))
    assert seg.fit_info_["hopkins"] > 0.55 and seg.method_.startswith("umap+")
    assert 2 <= seg.n_segments_ <= 10
    assert seg.assign(clean)["segment_id"].nunique() == seg.n_segments_


@pytest.mark.slow
def test_case5_app_says_what_happened(tmp_path, monkeypatch):
    from conftest import REPO, small_settings
    from streamlit.testing.v1 import AppTest

    from core.pipeline.training import train

    p = tmp_path / "noise.csv"
    _uniform_noise_table(2000, 6).to_csv(p, index=False)
    run = train(p, None, small_settings(tmp_path / "art"))
    assert run.metrics().segmentation.fallback_reason.startswith("no cluster structure")
    monkeypatch.setenv("SHOPSPHERE_ARTIFACTS", str(tmp_path / "art"))
    monkeypatch.chdir(REPO)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert any(run.metrics().segmentation.fallback_reason in w.value for w in at.warning)


def test_case6_batch_invariance(trained, small_table):
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


@pytest.mark.slow
def test_case4_duplicate_heavy_table_same_segments_across_fresh_processes(tmp_path, settings_file):
    import subprocess
    import sys

    from conftest import REPO

    df = shopsphere.generate(3000, seed=14)
    dormant = df[(df["orders_12m"] == 0) & (df["sessions_30d"] == 0)].iloc[0]
    dup = df.sample(frac=0.4, random_state=0).index
    feature_cols = [c for c in df.columns if c not in ("customer_id", "purchased_next_30d")]
    df.loc[dup, feature_cols] = dormant[feature_cols].to_numpy()
    df.loc[dup, "purchased_next_30d"] = (np.arange(len(dup)) % 50 == 0).astype(int)
    p = tmp_path / "dups.csv"
    df.to_csv(p, index=False)
    procs = [subprocess.Popen([sys.executable, "-m", "core", "--settings", str(settings_file), "--artifacts",
                               str(tmp_path / f"a{i}"), "train", "--data", str(p)], cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for i in (1, 2)]
    for pr in procs:
        _, err = pr.communicate(timeout=600)
        assert pr.returncode == 0, err
    runs = [next((tmp_path / f"a{i}" / "runs").iterdir()) for i in (1, 2)]
    s1, s2 = (pd.read_parquet(r / "scored.parquet") for r in runs)
    pd.testing.assert_frame_equal(s1, s2)  # identical segments and scores, two fresh processes
    d = s1.set_index("customer_id").loc[df.loc[dup, "customer_id"]]
    assert d["segment_id"].nunique() == 1 and d["propensity"].nunique() == 1  # identical customers, same answers


@pytest.fixture()
def app(trained, monkeypatch):
    from conftest import REPO
    from streamlit.testing.v1 import AppTest

    art, run = trained
    monkeypatch.setenv("SHOPSPHERE_ARTIFACTS", str(art))
    monkeypatch.chdir(REPO)
    return AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run(), run


def test_case11_segment_filter_survives_page_changes(app):
    at, run = app
    at.switch_page("pages/projection.py").run()
    names = sorted(p.name for p in run.profiles())
    at.multiselect(key="_segment_filter_widget").set_value(names[:1]).run()
    at.switch_page("pages/matrix.py").run()
    assert at.multiselect(key="_segment_filter_widget").value == names[:1]
    at.switch_page("pages/overview.py").run()
    at.switch_page("pages/projection.py").run()
    assert not at.exception
    assert at.multiselect(key="_segment_filter_widget").value == names[:1]


def test_case11_upload_is_parsed_once_from_the_same_bytes(trained, tmp_path, monkeypatch, small_table):
    """(A copy of the runs folder: the scoring job writes its folder, the upload and the
    activation database, which the other tests' shared runs folder must not get.)"""
    import shutil

    from conftest import REPO
    from streamlit.testing.v1 import AppTest

    art, run = trained
    shutil.copytree(art, tmp_path / "art")
    monkeypatch.setenv("SHOPSPHERE_ARTIFACTS", str(tmp_path / "art"))
    monkeypatch.chdir(REPO)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    at.switch_page("pages/score.py").run()
    body = small_table.head(1234).drop(columns="purchased_next_30d").to_csv(index=False).encode()
    at.file_uploader[0].set_value(("new.csv", body, "text/csv")).run()
    assert not at.exception
    assert any("1,234 rows" in m.value for m in at.markdown)
    at.button[0].click().run()   # a scoring job, in a process of its own
    assert not at.exception
    import time

    from core.ops import jobs

    job_id = at.session_state["score_job"][1]
    deadline = time.monotonic() + 120
    while jobs.read(tmp_path / "art", job_id).active and time.monotonic() < deadline:
        time.sleep(0.3)
    at.run()
    assert any(f"scored 1,234 customers with run {run.run_id}" in s.value for s in at.success)


def test_case11_upload_over_the_limit_gets_a_message(trained, monkeypatch, small_table):
    from conftest import REPO
    from streamlit.testing.v1 import AppTest

    art, _ = trained
    monkeypatch.setenv("SHOPSPHERE_ARTIFACTS", str(art))
    monkeypatch.setenv("SHOPSPHERE_UPLOAD_MAX_MB", "1")
    monkeypatch.chdir(REPO)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    at.switch_page("pages/score.py").run()
    body = small_table.to_csv(index=False).encode() * 2  # about 2 MB
    at.file_uploader[0].set_value(("big.csv", body, "text/csv")).run()
    assert not at.exception
    assert any("the limit here is 1 MB" in e.value for e in at.error)


def test_case11_run_tables_are_cached_resources_keyed_on_the_run(trained):
    from ui import _table

    art, run = trained
    a = _table(str(art), run.run_id, "scored")
    b = _table(str(art), run.run_id, "scored")
    assert a is b and len(a) == len(run.table("scored"))  # shared, never copied per request
    assert hasattr(_table, "clear")  # a st.cache_resource function, never st.cache_data
