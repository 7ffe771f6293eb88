"""Champion and challenger: the promotion decision, and the monthly retrain compared on the challenger's test rows."""
import json
import shutil

import pytest

from core.cli import main
from core.pipeline.champion import retrain
from core.pipeline.training import train
from core.runs import store
from tests.support import MARKETING, REPO, small_settings


@pytest.mark.parametrize("challenger, auto, decision", [
    ({"roc_auc": 0.80, "pr_auc": 0.50, "ece": 0.010}, True, "promoted"),
    ({"roc_auc": 0.797, "pr_auc": 0.497, "ece": 0.014}, True, "promoted"),            # within 0.005
    ({"roc_auc": 0.81, "pr_auc": 0.52, "ece": 0.010}, False, "waiting for approval"),
    ({"roc_auc": 0.79, "pr_auc": 0.55, "ece": 0.010}, True, "kept champion"),         # ROC-AUC dropped 0.01
    ({"roc_auc": 0.80, "pr_auc": 0.50, "ece": 0.020}, True, "kept champion"),         # ECE rose 0.01
])
def test_promotion_decision(challenger, auto, decision):
    from core.pipeline.champion import promotion_decision

    champion = {"roc_auc": 0.80, "pr_auc": 0.50, "ece": 0.010}
    not_worse, got, why = promotion_decision(champion, challenger, 0.005, auto, "R1")
    assert got == decision
    assert (decision == "kept champion") == (not all(not_worse.values()))


def test_retrain_on_next_month_compares_on_the_challengers_test_rows(trained, settings_file, tmp_path, capsys,
                                                                     monkeypatch):
    from sklearn.metrics import roc_auc_score

    from core.inputs.synthetic import shopsphere

    art, run = trained
    copy = tmp_path / "art"
    shutil.copytree(art, copy, ignore=shutil.ignore_patterns("monitoring"))
    month1 = tmp_path / "month1.csv"
    shopsphere.generate(4000, seed=3, month=1).to_csv(month1, index=False)
    assert main(["--artifacts", str(copy), "--settings", str(settings_file), "retrain", "--data", str(month1)]) == 0
    out = capsys.readouterr().out
    report = json.loads(next(copy.glob("monitoring/*/retrain-*.json")).read_text())
    challenger = store.load_run(copy, report["challenger"])
    assert report["champion"] == run.run_id and store.current_run_id(copy) == run.run_id  # not auto-promoted
    assert report["decision"] in ("waiting for approval", "kept champion") and "decision: " in out
    s = challenger.table("scored")
    t = s[s["split"] == "test"]
    assert report["test_rows"] == len(t)
    assert report["metrics"]["challenger"]["roc_auc"] == pytest.approx(roc_auc_score(t["purchased_next_30d"], t["propensity"]))
    assert report["continuity"]["previous_run"] == run.run_id and report["continuity"]["transitions"]
    # the Admin page shows the comparison and promotes the waiting challenger
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("SHOPSPHERE_ARTIFACTS", str(copy))
    monkeypatch.chdir(REPO)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    at.switch_page("pages/admin.py").run()
    next(s for s in at.selectbox if s.label == "Run").set_value(
        report["challenger"]).run()   # Run history: the challenger's retrain report
    assert not at.exception
    table = next(d.value for d in at.dataframe if "model" in d.value.columns)
    assert table["model"].tolist() == ["champion", "challenger"]
    assert any(f"Decision: {report['decision']}" in m.value for m in list(at.info) + list(at.warning))
    next(b for b in at.button if b.label == f"Promote challenger {report['challenger']}").click().run()
    assert store.current_run_id(copy) == report["challenger"]


@pytest.mark.slow
@pytest.mark.skipif(not MARKETING.exists(), reason="../shared/data/marketing_campaign.csv is absent")
def test_a_challenger_of_a_table_with_dates_is_compared_with_its_champion(tmp_path):
    """The marketing table has a date column (Dt_Customer): the champion scores the challenger's
    cleaned table, where dates are already day counts, and the comparison is made."""
    spec = REPO / "configs" / "marketing_campaign.toml"
    settings = small_settings(tmp_path)
    first = train(MARKETING, spec, settings)
    report = retrain(MARKETING, spec, settings)
    assert report.champion == first.run_id and report.decision == "waiting for approval"
    # the same data, the same seed: the challenger is the champion again, figure for figure
    assert report.metrics["champion"]["roc_auc"] == pytest.approx(report.metrics["challenger"]["roc_auc"])
    assert store.current_run_id(tmp_path) == first.run_id
