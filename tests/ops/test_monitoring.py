"""Drift monitoring: PSI by hand, bins, flags, the drift report and the ``drift`` command."""
import json

import numpy as np
import pandas as pd
import pytest

from core.inputs.shopsphere_spec import shopsphere_spec
from core.ops import monitoring


def test_psi_equals_the_formula():
    e, a = np.array([50, 30, 20]), np.array([30, 30, 40])
    pe, pa = e / e.sum(), a / a.sum()
    assert monitoring.psi(e, a) == pytest.approx(np.sum((pa - pe) * np.log(pa / pe)))
    assert monitoring.psi(e, e * 3) == pytest.approx(0.0)
    with pytest.raises(ValueError):
        monitoring.psi(e, np.array([1, 2]))


@pytest.mark.parametrize("value, expected", [(0.05, "ok"), (0.1, "watch"), (0.2, "watch"), (0.25, "act"), (3, "act")])
def test_flags(value, expected):
    assert monitoring.flag(value) == expected


def test_numeric_bins_are_training_deciles_with_a_missing_bin():
    train = pd.Series(np.arange(1000, dtype=float))
    bins = monitoring.make_bins(train, categorical=False)
    assert len(bins["edges"]) == 9
    counts, labels = monitoring.bin_counts(pd.Series([0.0, 500.0, np.nan, np.inf, 2000.0]), bins)
    assert counts.sum() == 5 and labels[-1] == monitoring.MISSING and counts[-1] == 2
    assert counts[0] == 1 and counts[-2] == 1  # 0 in the first bin, 2000 in the last value bin


def test_new_categories_share_the_other_bin():
    bins = monitoring.make_bins(pd.Series(["a", "b", None]), categorical=True)
    counts, labels = monitoring.bin_counts(pd.Series(["a", "c", "d", None]), bins)
    assert labels == ["a", "b", monitoring.OTHER, monitoring.MISSING] and counts.tolist() == [1, 0, 2, 1]


def test_drift_report_flags_shifted_columns_only():
    rng = np.random.default_rng(0)
    spec = shopsphere_spec()
    n = 4000
    train = pd.DataFrame({"sessions_30d": rng.poisson(6, n).astype(float), "csat_score": rng.uniform(1, 5, n),
                          "region": rng.choice(["north", "south"], n)})
    train.loc[rng.random(n) < 0.10, "csat_score"] = np.nan        # 10% blank at training
    new = train.copy()
    new["sessions_30d"] = new["sessions_30d"] * 2                 # shifted: act
    new.loc[rng.random(n) < 0.1667, "csat_score"] = np.nan        # 25% blank now: PSI about 0.16, watch
    r = monitoring.drift_report(train, new, spec)
    by = {x["feature"]: x for x in r["features"]}
    assert set(by) == {"sessions_30d", "csat_score", "region"}
    assert by["sessions_30d"]["flag"] == "act" and r["features"][0]["feature"] == "sessions_30d"
    assert by["csat_score"]["flag"] == "watch" and by["csat_score"]["missing_change"] == pytest.approx(0.15, abs=0.02)
    assert 0.1 <= by["csat_score"]["psi"] < 0.25
    assert by["region"]["psi"] == pytest.approx(0.0) and by["region"]["flag"] == "ok"
    assert r["summary"] == {"act": 1, "watch": 1, "ok": 1}


def test_drift_command_on_a_shifted_table(trained, tmp_path, capsys):
    from core.cli import main

    art, run = trained
    df = pd.read_parquet(run.path / "features.parquet")
    df["orders_90d"] = df["orders_90d"] + 3
    shifted = tmp_path / "shifted.csv"
    df.to_csv(shifted, index=False)
    assert main(["--artifacts", str(art), "drift", "--data", str(shifted)]) == 0
    out = capsys.readouterr().out
    assert "orders_90d" in out.splitlines()[2] and " act" in out.splitlines()[2]  # the worst feature first
    report = json.loads((art / "monitoring" / run.run_id).glob("drift-*.json").__next__().read_text())
    assert report["summary"]["act"] >= 1 and report["score"]["mean_new"] > report["score"]["mean_train"]
    assert main(["--artifacts", str(art), "drift", "--data", str(tmp_path / "missing.csv")]) == 2


def test_admin_monitoring_tab_shows_the_latest_drift_report(trained, tmp_path, monkeypatch):
    import shutil

    from streamlit.testing.v1 import AppTest

    from core.ops.monitoring import drift_against_run
    from core.runs import reports, store
    from tests.support import REPO

    art, run = trained
    copy = tmp_path / "art"
    shutil.copytree(art, copy, ignore=shutil.ignore_patterns("monitoring"))
    df = pd.read_parquet(run.path / "features.parquet").assign(csat_score=np.nan)  # a column arriving blank
    report = drift_against_run(store.load_run(copy), df, "blank_csat.csv")
    reports.save_monitoring(copy, run.run_id, "drift", report)
    assert next(r for r in report["features"] if r["feature"] == "csat_score")["flag"] == "act"
    monkeypatch.setenv("SHOPSPHERE_ARTIFACTS", str(copy))
    monkeypatch.chdir(REPO)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    at.switch_page("pages/admin.py").run()
    assert not at.exception
    shown = {m.label: m.value for m in at.metric}
    assert shown["Features to act on"] == str(report["summary"]["act"])
    assert shown["Score PSI"] == f"{report['score']['psi']:.3f}"


def test_backtest_command_matches_sklearn_on_realised_outcomes(trained, small_table, tmp_path, capsys, monkeypatch):
    from sklearn.metrics import average_precision_score, roc_auc_score

    from core.cli import main

    art, run = trained
    table = small_table.drop(columns=["purchased_next_30d"]).iloc[:3000]
    table.to_csv(tmp_path / "base.csv", index=False)
    assert main(["--artifacts", str(art), "score", "--data", str(tmp_path / "base.csv"),
                 "--out", str(tmp_path / "scores.parquet")]) == 0
    small_table[["customer_id", "purchased_next_30d"]].iloc[500:].to_csv(tmp_path / "outcomes.csv", index=False)
    capsys.readouterr()
    assert main(["--artifacts", str(art), "backtest", "--scores", str(tmp_path / "scores.parquet"),
                 "--outcomes", str(tmp_path / "outcomes.csv")]) == 0
    out = capsys.readouterr().out
    scores = pd.read_parquet(tmp_path / "scores.parquet").merge(small_table, on="customer_id")
    scores = scores[scores["customer_id"].isin(small_table["customer_id"].iloc[500:])]
    y, p = scores["purchased_next_30d"], scores["propensity"]
    assert "2,500 of 3,000 scored customers have an outcome" in out
    assert f"ROC-AUC {roc_auc_score(y, p):.3f}" in out and f"PR-AUC (average precision) {average_precision_score(y, p):.3f}" in out
    report = json.loads(next((art / "monitoring" / run.run_id).glob("backtest-*.json")).read_text())
    top = next(d for d in report["deciles"] if d["propensity_decile"] == 1)
    assert top["realised"] == pytest.approx(y[scores["propensity_decile"] == 1].mean())
    from streamlit.testing.v1 import AppTest

    from tests.support import REPO

    monkeypatch.setenv("SHOPSPHERE_ARTIFACTS", str(art))
    monkeypatch.chdir(REPO)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    at.switch_page("pages/admin.py").run()
    shown = {m.label: m.value for m in at.metric}
    assert not at.exception and shown["ROC-AUC"] == f"{roc_auc_score(y, p):.3f}"
    bad = small_table[["customer_id"]].assign(purchased_next_30d="yes")
    bad.to_csv(tmp_path / "bad.csv", index=False)
    assert main(["--artifacts", str(art), "backtest", "--scores", str(tmp_path / "scores.parquet"),
                 "--outcomes", str(tmp_path / "bad.csv")]) == 2
    assert "must be 0 or 1, found 'yes'" in capsys.readouterr().err


def test_report_html_is_self_contained_and_markdown_has_the_tables(trained, tmp_path, capsys):
    from core.cli import main

    art, run = trained
    assert main(["--artifacts", str(art), "report", "--out", str(tmp_path / "r.html")]) == 0
    assert main(["--artifacts", str(art), "report", "--out", str(tmp_path / "r.md")]) == 0
    html = (tmp_path / "r.html").read_text()
    for title in ("Evaluation (held-out test rows)", "What drives the score", "Segments", "Propensity by segment",
                  "Clustering vs classification", "Recommended production design", "Data quality and drift",
                  "Provenance"):
        assert f"<h2>{title}" in html, title
    assert "<script src=\"http" not in html and "Plotly.newPlot" in html     # plotly.js inlined: opens offline
    assert run.manifest().data_hash in html
    md = (tmp_path / "r.md").read_text()
    x = run.metrics().xgboost
    assert f"| {x.roc_auc:.3f} |" in md and "## Recommended production design" in md
    assert main(["--artifacts", str(art), "report", "--out", str(tmp_path / "r.pdf")]) == 2
