"""Every page renders against a small trained run without exception (streamlit AppTest)."""
import pytest
from streamlit.testing.v1 import AppTest

from conftest import REPO

PAGES = ["overview", "segments", "projection", "propensity", "matrix", "score", "admin"]


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


@pytest.mark.parametrize("page", PAGES)
def test_page_renders(app_env, page):
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    at.switch_page(f"views/{page}.py").run()
    assert not at.exception, at.exception
    assert at.title, f"page {page} shows no title"


def test_overview_shows_metrics(app_env):
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    labels = [m.label for m in at.metric]
    assert "Customers" in labels and "ROC-AUC (XGBoost, test)" in labels
    roc = next(m for m in at.metric if m.label == "ROC-AUC (XGBoost, test)")
    assert roc.value == f"{app_env.metrics()['xgboost']['roc_auc']:.3f}"


def test_no_run_yet_explains(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOPSPHERE_ARTIFACTS", str(tmp_path))
    monkeypatch.chdir(REPO)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert any("No trained run yet" in i.value for i in at.info)
