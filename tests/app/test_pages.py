"""Every page renders against a small trained run without exception (streamlit AppTest)."""
from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.support import REPO, uniform_noise_table



@pytest.fixture()
def app_env(trained, monkeypatch):
    art, run = trained
    monkeypatch.setenv("SHOPSPHERE_ARTIFACTS", str(art))
    monkeypatch.chdir(REPO)
    return run


def test_app_shell_renders(app_env):
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert any(app_env.run_id in m.value for m in at.sidebar.markdown)


@pytest.mark.parametrize("page", ["score", "admin"])  # the others: every data set in test_words_on_pages.py
def test_page_renders(app_env, page):
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, at.exception
    assert at.title, f"page {page} shows no title"


def test_overview_shows_metrics(app_env):
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    at.switch_page("pages/overview.py").run()
    labels = [m.label for m in at.metric]
    assert "Customers" in labels and "ROC-AUC (XGBoost, test)" in labels
    roc = next(m for m in at.metric if m.label == "ROC-AUC (XGBoost, test)")
    assert roc.value == f"{app_env.metrics().xgboost.roc_auc:.3f}"


def test_no_run_yet_explains(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOPSPHERE_ARTIFACTS", str(tmp_path))
    monkeypatch.chdir(REPO)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert any("No trained run yet" in i.value for i in at.info)


def test_renaming_a_segment_on_the_segments_page(trained, tmp_path, monkeypatch):
    import shutil

    from core.runs import names, store

    art, run = trained
    copy = tmp_path / "art"
    shutil.copytree(art, copy)
    monkeypatch.setenv("SHOPSPHERE_ARTIFACTS", str(copy))
    monkeypatch.chdir(REPO)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    at.switch_page("pages/segments.py").run()
    first = run.profiles()[0]
    _rename(at, first.segment_id, "Weekend browsers")
    assert not at.exception and not at.error
    assert names.display_names(copy, "shopsphere") == {first.segment_id: "Weekend browsers"}
    assert any("Weekend browsers" in e.label for e in at.expander)
    assert store.Run(copy / "runs" / run.run_id).segment_names()[first.segment_id] == "Weekend browsers"
    # a name another segment already has is refused with one line
    at.switch_page("pages/segments.py").run()
    _rename(at, run.profiles()[1].segment_id, "weekend BROWSERS")
    assert any("already used by segment" in e.value for e in at.error)


def _rename(at, segment_id: int, name: str) -> None:
    """Fill and submit the Segments page's rename form."""
    box = next(s for s in at.selectbox if s.label == "Segment")
    box.set_value(next(o for o in box.options if o.startswith(f"{segment_id}:")))
    next(t for t in at.text_input if t.label == "Display name").input(name)
    next(b for b in at.button if b.label == "Save name").click()
    at.run()


def test_propensity_page_lookup_shows_the_customers_reasons(app_env):
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    at.switch_page("pages/propensity.py").run()
    assert [t.label for t in at.tabs] == ["Quality", "Calibration", "Lift, capture and budget", "By segment",
                                          "What drives the score", "SHAP summary and dependence",
                                          "Look up a customer"]
    grade = app_env.metrics().grade.grade
    assert any(s.value == f"Quality: {grade}" for s in at.subheader)
    at.session_state["propensity_tab"] = "Look up a customer"  # only the open tab's section runs
    at.run()
    scored = app_env.table("scored")
    row = scored.iloc[3]
    at.text_input[0].input(str(row["customer_id"])).run()
    assert not at.exception
    shown = [m.value for m in at.markdown]
    assert f"- {row['reason_1']}" in shown and f"- {row['reason_3']}" in shown
    assert next(m for m in at.metric if m.label == "Propensity").value == f"{row['propensity']:.1%}"
    at.text_input[0].input("no-such-id").run()
    assert any("No customer with id 'no-such-id'" in w.value for w in at.warning)
    # SHAP summary and dependence plots for the top features
    at.session_state["propensity_tab"] = "SHAP summary and dependence"
    at.run()
    assert not at.exception
    top = app_env.table("importance")["label"].iloc[0]
    assert at.selectbox[0].label == "Dependence plot for" and at.selectbox[0].value == top


def test_overview_shows_the_quality_grade(app_env):
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    at.switch_page("pages/overview.py").run()
    g = app_env.metrics().grade
    assert any(s.value == f"Propensity model quality: {g.grade}" for s in at.subheader)


def test_budget_slider_and_economics_on_the_propensity_page(app_env):
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    at.switch_page("pages/propensity.py").run()
    at.session_state["propensity_tab"] = "Lift, capture and budget"
    at.run()
    at.slider[0].set_value(20).run()
    at.number_input[0].set_value(2.0).run()
    at.number_input[1].set_value(10.0).run()
    assert not at.exception
    s = app_env.table("scored")
    base = s.sort_values("propensity", ascending=False, kind="stable").head(round(0.2 * len(s)))  # the whole base
    text = " ".join(m.value for m in at.markdown)
    assert f"{len(base):,} contacts are expected to reach **{base['propensity'].sum():,.0f}** buyers" in text
    gain = base["propensity"] * 10.0 - 2.0
    assert f"expected profit **${gain.sum():,.0f}**" in text
    assert "Contact pays above a probability of **20.0%**" in text
    t = s[s["split"] == "test"]
    top = t.sort_values("propensity", ascending=False, kind="stable").head(round(0.2 * len(t)))
    assert f"held {int(top['purchased_next_30d'].sum()):,} buyers" in text     # the test rows, in the analyst fold


def test_cohort_builder_size_and_export_match_pandas(app_env):
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    at.switch_page("pages/cohort.py").run()
    scored = app_env.table("scored")
    first = sorted(scored["segment_id"].unique())[:2]
    at.multiselect[0].set_value([int(i) for i in first]).run()
    at.slider[0].set_value((0.2, 0.9)).run()
    assert not at.exception
    want = scored[scored["segment_id"].isin(first) & scored["propensity"].between(0.2, 0.9)]
    assert next(m for m in at.metric if m.label == "Customers").value == f"{len(want):,}"
    assert next(m for m in at.metric if m.label == "Expected buyers").value == f"{want['propensity'].sum():,.0f}"
    assert at.checkbox[0].value                                 # the holdout is on by default
    assert any(m.value.startswith("Hold out **") for m in at.markdown)
    assert any("per group needed" in c.value for c in at.caption)


def test_cohort_export_rows_equal_the_scored_table(trained):
    from core.activation import cohorts, stats

    _, run = trained
    scored = run.table("scored")
    mask = cohorts.cohort_mask(scored, None, min_percentile=90)
    out = cohorts.cohort_export(scored, mask, holdout=50, seed=3)
    top = scored[scored["propensity"].rank(pct=True, method="max") >= 0.9]
    assert len(out) == len(top) and (out["group"] == "holdout").sum() == 50
    merged = out.merge(scored, on="customer_id")
    assert (merged["propensity_x"] == merged["propensity_y"].round(4)).all()   # exports round to 4 decimals
    assert (merged["reason_1_x"] == merged["reason_1_y"]).all() and (merged["persona"] == merged["segment_name"]).all()
    again = cohorts.cohort_export(scored, mask, holdout=50, seed=3)
    assert (again["group"] == out["group"]).all()  # seeded
    assert stats.holdout_size(0.10, 0.5) == 686  # Fleiss et al. 2003, p1 0.10 vs p2 0.15


def test_approach_page_measures_segments_against_the_classifier(app_env):
    from sklearn.metrics import roc_auc_score

    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    at.switch_page("pages/approach.py").run()
    assert not at.exception
    s = app_env.table("scored")
    tr, te = s[s["split"] == "train"], s[s["split"] == "test"]
    seg_score = te["segment_id"].map(tr.groupby("segment_id")["purchased_next_30d"].mean())
    want = round(roc_auc_score(te["purchased_next_30d"], seg_score), 3)
    table = at.dataframe[0].value
    assert table["ROC-AUC"].iloc[0] == want
    assert table["ROC-AUC"].iloc[1] == round(roc_auc_score(te["purchased_next_30d"], te["propensity"]), 3)
    assert any("Recommended production design" == h.value for h in at.subheader)


def _try_password(at, given):
    at.text_input[0].input(given)
    next(b for b in at.button if b.label == "Open the Admin page").click().run()


def test_admin_needs_the_password_when_one_is_set(app_env, monkeypatch):
    import ui

    monkeypatch.setenv("SHOPSPHERE_ADMIN_PASSWORD", "s3cret-pass")
    ui._door.clear()
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    at.switch_page("pages/admin.py").run()
    assert [b.label for b in at.button] == ["Open the Admin page"]  # nothing else to press before the password
    _try_password(at, "wrong")
    assert any(e.value == "Wrong admin password." for e in at.error) and len(at.button) == 1
    _try_password(at, "s3cret-pass")
    assert not at.error and not at.exception
    assert "Train a new run" in [b.label for b in at.button]
    at.switch_page("pages/overview.py").run()
    at.switch_page("pages/admin.py").run()            # asked once per session
    assert "Train a new run" in [b.label for b in at.button]


def test_wrong_admin_passwords_make_the_next_try_wait(app_env, monkeypatch, tmp_path):
    """Three wrong tries cost nothing; the fourth makes the next one wait 2 s (then 4, 8...),
    the form refuses tries meanwhile and says how long; each wrong try is logged."""
    import json
    import time

    import ui

    monkeypatch.setenv("SHOPSPHERE_ADMIN_PASSWORD", "s3cret-pass")
    ui._door.clear()
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    at.switch_page("pages/admin.py").run()
    for _ in range(3):
        _try_password(at, "guess")
        assert not at.warning
    _try_password(at, "guess")   # the fourth wrong try in a row
    assert any("next try is taken in 2 s" in w.value for w in at.warning)
    assert next(b for b in at.button if b.label == "Open the Admin page").disabled   # no try while waiting
    assert "Train a new run" not in [b.label for b in at.button]
    time.sleep(2.1)
    at.run()
    assert not next(b for b in at.button if b.label == "Open the Admin page").disabled
    _try_password(at, "s3cret-pass")
    assert "Train a new run" in [b.label for b in at.button]
    lines = (app_env.path.parents[1] / "monitoring" / "admin_door.jsonl").read_text(encoding="utf-8").splitlines()
    logged = [json.loads(x) for x in lines][-4:]
    assert [x["failures_in_a_row"] for x in logged] == [1, 2, 3, 4] and logged[-1]["wait_s"] == 2.0


def test_the_backoff_doubles_the_wait_per_wrong_try_and_clears_on_success():
    from core.ops.door import Backoff

    door = Backoff(free=3, base_s=2.0, max_s=30.0)
    a, b = ("session", "s1"), ("address", "10.0.0.1")
    waits = [door.fail([a, b], now=100.0) for _ in range(8)]
    assert waits == [0, 0, 0, 2, 4, 8, 16, 30]
    assert door.wait_s([a], now=110.0) == 20.0 and door.wait_s([("session", "new")], now=110.0) == 0.0
    assert door.wait_s([("session", "new"), b], now=110.0) == 20.0   # a new session from the same address waits
    door.succeed([a, b])
    assert door.wait_s([a, b], now=110.0) == 0.0 and door.failures(b) == 0


def test_admin_without_password_only_on_localhost():
    from ui import server_is_local

    assert server_is_local("localhost") and server_is_local("127.0.0.1")
    assert not server_is_local("0.0.0.0") and not server_is_local("")


def test_cohort_feature_filters_match_pandas(app_env):
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    at.switch_page("pages/cohort.py").run()
    next(m for m in at.multiselect if m.label.startswith("Filter on features")).set_value(["orders_90d", "region"]).run()
    at.slider(key="f_orders_90d").set_value((1.0, 3.0)).run()
    regions = at.multiselect(key="f_region").options[:2]
    at.multiselect(key="f_region").set_value(regions).run()
    assert not at.exception
    s = app_env.table("scored")
    f = app_env.table("features")
    want = s["propensity"].between(0.3, 1.0) & f["orders_90d"].between(1, 3) & f["region"].isin(regions)
    assert int(want.sum()) > 0
    assert next(m for m in at.metric if m.label == "Customers").value == f"{int(want.sum()):,}"


def test_matrix_page_bands_actions_and_holdouts(app_env):
    from core.activation import playbook

    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    at.switch_page("pages/matrix.py").run()
    assert not at.exception
    table = at.dataframe[1].value                                   # the analyst fold: every column
    s = app_env.table("scored")
    pairs = s.assign(band=playbook.band_of(s["propensity_decile"])).groupby(["segment_id", "band"]).size()
    assert len(table) == len(pairs)
    assert set(table["action"]) <= {rule[4] for rule in playbook.PLAYBOOK}
    assert table["customers"].sum() == len(s)
    first = table.iloc[0]
    # Fleiss, Levin & Paik (2003) eq. 4.14 by hand: alpha 0.05 two-sided, power 0.8, +10% relative uplift
    p1 = first["mean_propensity"]
    p2, za, zb = p1 * 1.1, 1.959964, 0.841621
    pbar = (p1 + p2) / 2
    n = (za * np.sqrt(2 * pbar * (1 - pbar)) + zb * np.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2 / (p2 - p1) ** 2
    assert first["holdout_per_group"] == int(np.ceil(n))
    assert table["expected_revenue"].notna().any()
    at.radio[0].set_value("deciles").run()
    assert not at.exception and len(at.dataframe[0].value) == len(app_env.table("matrix"))


def test_projection_colours_by_a_feature(app_env):
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    at.switch_page("pages/projection.py").run()
    at.radio[0].set_value("a feature").run()
    at.selectbox[0].set_value("csat_score").run()
    assert not at.exception
    proj = app_env.table("projection").merge(app_env.table("features"), on="customer_id")
    n_missing = int(proj["csat_score"].isna().sum())
    assert n_missing > 0 and any(f"{n_missing:,} of these customers have no satisfaction score" in c.value
                                 for c in at.caption)


def test_admin_promotes_and_rolls_back(trained, tmp_path, monkeypatch):
    import json
    import shutil

    from core.runs import champions, store

    art, run = trained
    copy = tmp_path / "art"
    shutil.copytree(art, copy)
    other = run.run_id + "-2"  # a second complete run beside the current one
    shutil.copytree(copy / "runs" / run.run_id, copy / "runs" / other)
    man = json.loads((copy / "runs" / other / "manifest.json").read_text())
    (copy / "runs" / other / "manifest.json").write_text(json.dumps({**man, "run_id": other}))
    monkeypatch.setenv("SHOPSPHERE_ARTIFACTS", str(copy))
    monkeypatch.chdir(REPO)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    at.switch_page("pages/admin.py").run()
    assert at.dataframe[0].value["run_id"].tolist() == [other, run.run_id]
    next(s for s in at.selectbox if s.label == "Run").set_value(other).run()
    next(b for b in at.button if b.label == "Promote this run").click().run()
    assert not at.exception and store.current_run_id(copy) == other
    assert f"`{other}`" in at.sidebar.markdown[0].value  # the page reran: the sidebar shows the new current run
    assert any(f"Run {other} is now current for" in m.value for m in at.success)
    next(b for b in at.button if b.label == "Roll back to the previous champion").click().run()
    assert store.current_run_id(copy) == run.run_id
    assert [e["action"] for e in champions.champion_history(copy)][-2:] == ["promote", "rollback"]


def test_every_propensity_tab_renders(app_env):
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    at.switch_page("pages/propensity.py").run()
    for label in [t.label for t in at.tabs]:
        at.session_state["propensity_tab"] = label
        at.run()
        assert not at.exception, (label, at.exception)
        assert at.get("plotly_chart") or label in ("By segment", "Look up a customer"), label


@pytest.mark.slow
def test_app_says_what_happened(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from core.pipeline.training import train
    from tests.support import REPO, small_settings

    p = tmp_path / "noise.csv"
    uniform_noise_table(2000, 6).to_csv(p, index=False)
    run = train(p, None, small_settings(tmp_path / "art"))
    assert run.metrics().segmentation.fallback_reason.startswith("no cluster structure")
    monkeypatch.setenv("SHOPSPHERE_ARTIFACTS", str(tmp_path / "art"))
    monkeypatch.chdir(REPO)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert any(run.metrics().segmentation.fallback_reason in w.value for w in at.warning)


@pytest.fixture()
def app(trained, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.support import REPO

    art, run = trained
    monkeypatch.setenv("SHOPSPHERE_ARTIFACTS", str(art))
    monkeypatch.chdir(REPO)
    return AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run(), run


def test_segment_filter_survives_page_changes(app):
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


def test_upload_is_parsed_once_from_the_same_bytes(trained, tmp_path, monkeypatch, small_table):
    """(A copy of the runs folder: the scoring job writes its folder, the upload and the
    activation database, which the other tests' shared runs folder must not get.)"""
    import shutil

    from streamlit.testing.v1 import AppTest

    from tests.support import REPO

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


def test_upload_over_the_limit_gets_a_message(trained, monkeypatch, small_table):
    from streamlit.testing.v1 import AppTest

    from tests.support import REPO

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


def test_run_tables_are_cached_resources_keyed_on_the_run(trained):
    from ui import _table

    art, run = trained
    a = _table(str(art), run.run_id, "scored")
    b = _table(str(art), run.run_id, "scored")
    assert a is b and len(a) == len(run.table("scored"))  # shared, never copied per request
    assert hasattr(_table, "clear")  # a st.cache_resource function, never st.cache_data
