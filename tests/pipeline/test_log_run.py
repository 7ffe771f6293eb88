"""A run trained end to end on a generated order log: the source in the run, BG/NBD in the
comparison, the candidate features judged on validation, expected revenue in the matrix and
cohorts, ``score --log``, and the app's pages and log upload on it."""
from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from core.cli import main
from core.inputs import log
from core.inputs.synthetic import shopsphere_log
from tests.support import REPO, slow_fixture, small_settings

CUSTOMERS = 2500


@pytest.fixture(scope="module")
def log_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("log")
    shopsphere_log.generate_log(CUSTOMERS, seed=11).to_parquet(d / "orders.parquet", index=False)
    shopsphere_log.attributes(CUSTOMERS, seed=11).to_csv(d / "customers.csv", index=False)
    spec = (REPO / "configs" / "shopsphere_log.toml").read_text().replace(
        "data/shopsphere_customers.parquet", str(d / "customers.csv")).replace('start = "2025-05-01"',
                                                                               'start = "2025-08-01"')
    (d / "spec.toml").write_text(spec)
    return d / "orders.parquet", d / "spec.toml"


@slow_fixture(scope="module")
def log_run(tmp_path_factory, log_files):
    from core.pipeline.training import train_log

    art = tmp_path_factory.mktemp("artifacts")
    orders, spec = log_files
    return art, train_log(orders, spec, small_settings(art))


def test_the_run_records_its_source_and_beats_nothing_by_accident(log_run):
    art, run = log_run
    src = run.manifest().source
    assert src["kind"] == "log" and src["cutoffs"] == ["2025-08-01", "2025-08-31", "2025-09-30", "2025-10-30",
                                                         "2025-11-29"]
    assert src["windows"][-1].startswith("test cutoff 2025-11-29") and src["windows"][-2].startswith("validation")
    assert src["log_spec"]["name"] == "shopsphere_log" and src["channels"]
    assert src["attributes"]["rows"] == CUSTOMERS
    verdict = src["candidate_features"]
    assert set(verdict["candidates"]) == {"bgnbd_p_alive", "bgnbd_expected"} and "val_roc_auc_with" in verdict
    kept = {"bgnbd_p_alive", "bgnbd_expected"} <= set(run.spec().feature_names)
    assert kept == verdict["keep"]
    m = run.metrics()
    assert m.bgnbd is not None and 0.6 < m.bgnbd.roc_auc < 1 and m.recency is not None
    assert [r["role"] for r in m.per_snapshot][-2:] == ["val", "test"]
    assert {"age_band", "region", "signup_date_days"} <= set(run.spec().feature_names)
    # segments as the run shows them: each at least the minimum share of the latest cutoff's customers,
    # each with rules, and counted alike everywhere (after any merge of a smaller cluster)
    profiles = run.profiles()
    assert m.segmentation.n_segments == run.manifest().n_segments == len(profiles)
    latest = run.manifest().customers
    share = run.manifest().settings["segmentation"]["min_segment_share"]
    assert all(p.size >= share * latest and p.rules for p in profiles)


def test_matrix_and_cohorts_carry_expected_revenue_of_the_latest_snapshot(log_run):
    from core.activation import cohorts

    art, run = log_run
    scored, matrix = run.table("scored"), run.table("matrix")
    test = scored[scored["split"] == "test"]
    assert matrix["customers"].sum() == len(test)                       # the latest snapshot's customers, once
    assert matrix["expected_revenue"].sum() == pytest.approx(test["expected_revenue"].sum())
    latest, feats, date = cohorts.latest_snapshot(scored, run.table("features"))
    assert date == "2025-11-29" and len(latest) == len(test) and not latest["customer_id"].str.contains("@").any()
    assert len(feats) == len(latest)
    mask = (latest["propensity_decile"] <= 2).to_numpy()
    s = cohorts.cohort_summary(latest, mask)
    assert s["expected_revenue"] == pytest.approx(latest.loc[mask, "expected_revenue"].sum())
    assert "expected_revenue" in cohorts.cohort_export(latest, mask).columns


def test_score_log_builds_features_as_of_the_cutoff(log_run, log_files, tmp_path, settings_file, capsys):
    art, run = log_run
    orders, _ = log_files
    out = tmp_path / "scores.csv"
    code = main(["--settings", str(settings_file), "--artifacts", str(art), "score", "--log", str(orders),
                 "--cutoff", "2025-12-01", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    got = pd.read_csv(out)
    ev, _ = log.events(pd.read_parquet(orders), dataclasses.replace(log.load_log_spec(log_files[1])))
    before = ev[ev["day"] < int((pd.Timestamp("2025-12-01") - log.EPOCH).days)]
    buyers = before.groupby(["customer_id", "day"])["amount"].sum().gt(0).groupby("customer_id").any()
    assert len(got) == int(buyers.sum())
    assert "expected_revenue" in got and got["propensity"].between(0, 1).all()
    assert (got["expected_revenue"] >= 0).all()
    assert "lines on or after the cutoff ignored" in err and "as of 2025-12-01" in err
    # a table's run cannot score a log, and a log run needs --log or --data, not both
    code = main(["--artifacts", str(art), "score", "--data", str(orders), "--log", str(orders)])
    assert code == 2 and "one of --data TABLE or --log LOG" in capsys.readouterr().err


def test_score_log_is_refused_for_a_run_trained_on_a_table(trained, log_files, tmp_path, capsys):
    art, _ = trained
    code = main(["--artifacts", str(art), "score", "--log", str(log_files[0]), "--out", str(tmp_path / "x.csv")])
    assert code == 2 and "trained on a table, not a log" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()


def test_pages_work_on_a_log_run_and_the_admin_reads_an_uploaded_log(log_run, log_files, monkeypatch):
    from streamlit.testing.v1 import AppTest

    art, run = log_run
    monkeypatch.setenv("SHOPSPHERE_ARTIFACTS", str(art))
    monkeypatch.chdir(REPO)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=90).run()
    assert not at.exception
    at.switch_page("pages/overview.py").run()
    assert any("Built from the transaction log" in i.value for i in at.info)
    assert next(m for m in at.metric if m.label == "Customer snapshots").value == f"{run.manifest().rows:,}"
    for page in ("segments", "propensity", "matrix", "projection", "cohort"):
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, page
        if page == "matrix":
            assert any("P(buy) x their expected spend" in c.value for c in at.caption)
    assert any("as of the latest cutoff (2025-11-29)" in c.value for c in at.caption)
    assert any(m.label == "Expected revenue" for m in at.metric)
    at.switch_page("pages/admin.py").run()
    assert not at.exception
    box = next(s for s in at.selectbox if s.key == "log_spec")
    assert any("shopsphere_log" in o for o in box.options)
    box.set_value(next(o for o in box.options if "cdnow" in o)).run()
    # the generated log read with CDNOW's spec: the missing column is named, with the file as uploaded
    at.file_uploader(key="log_upload").set_value(("orders.parquet", log_files[0].read_bytes(),
                                                  "application/octet-stream")).run()
    assert not at.exception
    assert any(e.value.startswith("orders.parquet: missing log column 'date'") for e in at.error)
    assert not any((art / "uploads").glob("orders-*")), "a log that does not read is not kept"
    # read with its own spec: the snapshots and their label windows, and the button to train
    box = next(s for s in at.selectbox if s.key == "log_spec")
    box.set_value(next(o for o in box.options if "shopsphere_log" in o)).run()
    assert not at.exception
    assert any("Snapshots at 8 cutoffs" in m.value for m in at.markdown)
    assert any(b.label == "Train a new run on this log" for b in at.button)
    assert [m.value for m in at.metric if m.label == "Customers"][-1] == f"{CUSTOMERS:,}"


def test_cli_points_log_runs_and_log_specs_to_the_log_commands(log_run, log_files, tmp_path, capsys):
    art, _ = log_run
    orders, spec = log_files
    code = main(["--artifacts", str(art), "score", "--data", str(orders), "--out", str(tmp_path / "a.csv")])
    assert code == 2 and "was built from a log: score it with --log LOG" in capsys.readouterr().err
    code = main(["--artifacts", str(art), "score", "--log", str(orders), "--spec", str(spec)])
    assert code == 2 and "leave out --spec" in capsys.readouterr().err
    code = main(["--artifacts", str(tmp_path / "other"), "train", "--data", str(orders), "--spec", str(spec)])
    assert code == 2 and "is a log spec: give the log with --log LOG" in capsys.readouterr().err
    code = main(["--artifacts", str(art), "score", "--log", str(orders), "--cutoff", "2026-03-01",
                 "--out", str(tmp_path / "late.csv")])
    assert code == 0 and "days after the log ends" in capsys.readouterr().err
