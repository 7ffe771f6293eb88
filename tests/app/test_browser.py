"""The app in a real browser: headless Debian Chromium driven by Selenium against a small
trained run. Opens Overview, Segments and the matrix, checks that the Plotly charts drew,
downloads a cohort CSV and checks it row by row against the scored table, and saves
screenshots (into ``$SHOPSPHERE_SCREENSHOTS`` when set, else the test's temporary folder).

``.ci/run`` installs ``chromium`` and ``chromium-driver``; in CI a missing browser fails the
test, elsewhere it skips it.
"""
import os
from pathlib import Path

import pandas as pd
import pytest

from tests.app import browser

pytestmark = pytest.mark.skipif(not browser.browser_available() and not os.environ.get("CI"),
                                reason="Debian chromium/chromium-driver or selenium not installed")


@pytest.fixture(scope="module")
def session(trained, tmp_path_factory):
    art, run = trained
    tmp = tmp_path_factory.mktemp("browser")
    shots = Path(os.environ.get("SHOPSPHERE_SCREENSHOTS") or tmp / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    downloads = tmp / "downloads"
    downloads.mkdir()
    with browser.app_server(art, tmp / "streamlit.log") as url:
        driver = browser.chrome(downloads)
        try:
            driver.get(url)
            browser.wait_page(driver, browser.PAGES[""][1])
            yield driver, run, shots, downloads
        finally:
            driver.quit()


def test_overview_segments_and_matrix_draw(session):
    from selenium.webdriver.common.by import By

    driver, run, shots, _ = session
    browser.open_page(driver, "overview")
    metrics = driver.find_elements(By.CSS_SELECTOR, "[data-testid=stMetric]")
    assert len(metrics) >= 8
    roc = next(m for m in metrics if m.text.startswith("ROC-AUC"))
    assert f"{run.metrics().xgboost.roc_auc:.3f}" in roc.text
    assert (browser.screenshot(driver, shots / "overview.png")).stat().st_size > 10_000
    for path in ("segments", "matrix"):
        _, state = browser.open_page(driver, path, min_charts=1)
        assert state["charts"] >= 1, f"no Plotly chart drawn on {path}"
        assert browser.screenshot(driver, shots / f"{path}.png").stat().st_size > 10_000
    # the matrix heatmap has one row per segment
    names = driver.execute_script(
        "return document.querySelector('.js-plotly-plot').data[0].y.length;")
    assert names == run.table("matrix")["segment_id"].nunique()


def test_cohort_csv_download_matches_the_scored_table(session):
    driver, run, shots, downloads = session
    browser.open_page(driver, "cohort")
    browser.wait_element(driver, "[data-testid=stDownloadButton] button, [data-testid=stDownloadButton] a").click()
    got = pd.read_csv(browser.wait_download(downloads), dtype={"customer_id": str})
    browser.screenshot(driver, shots / "cohort.png")
    scored = run.table("scored")
    want = scored[scored["propensity"].between(0.3, 1.0)].reset_index(drop=True)  # the page's default cohort
    assert got["customer_id"].tolist() == want["customer_id"].tolist()
    assert got["persona"].tolist() == want["segment_name"].tolist()
    assert (got["propensity"] - want["propensity"].round(4)).abs().max() < 1e-9   # exports round to 4 decimals
    assert got["propensity_decile"].tolist() == want["propensity_decile"].tolist()
    for col in ("reason_1", "reason_2", "reason_3"):
        assert got[col].fillna("").tolist() == want[col].fillna("").tolist()
    assert set(got["group"]) == {"contact", "holdout"}                         # the holdout is on by default


def test_three_clicks_from_opening_the_app_to_this_weeks_cohort_with_a_holdout(session):
    """Open the app (the start page, This week), click the first action's "Build this cohort",
    click "Download cohort CSV": the export holds that action's customers, with a holdout."""
    from selenium.webdriver.common.by import By

    driver, run, shots, downloads = session
    driver.get(driver.current_url.split("/", 3)[0] + "//" + driver.current_url.split("/", 3)[2])  # open the app
    browser.wait_page(driver, "This week")
    first = driver.find_elements(By.CSS_SELECTOR, "[data-testid=stMain] [data-testid=stMarkdownContainer] strong")
    action = next(e.text for e in first if e.text.startswith("1. "))[3:]
    browser.screenshot(driver, shots / "week.png")
    for old in downloads.glob("*.csv"):
        old.unlink()
    browser.click_button(driver, "Build this cohort")                                   # click 1
    browser.wait_page(driver, "Cohort builder")
    browser.wait_element(driver, "[data-testid=stDownloadButton] button, [data-testid=stDownloadButton] a").click()  # 2
    got = pd.read_csv(browser.wait_download(downloads), dtype={"customer_id": str})
    assert set(got["action"]) == {action} and set(got["group"]) == {"contact", "holdout"}
    cell = run.table("matrix")
    top = cell.assign(band=[{1: "high", 2: "high", 3: "high"}.get(d, "other") for d in cell["propensity_decile"]])
    assert len(got) in set(top.groupby(["segment_id", "band"])["customers"].sum())  # one segment's band, whole
    browser.screenshot(driver, shots / "cohort_from_week.png")


def test_admin_upload_shows_the_validation_report(session, small_csv):
    from selenium.webdriver.common.by import By

    driver, run, shots, _ = session
    browser.open_page(driver, "admin")
    browser.click_tab(driver, "Upload a table")
    browser.upload(driver, small_csv)
    browser.wait_page(driver, "Admin")
    browser.click_button(driver, "Check the table")
    browser.wait_text(driver, "Validation report")
    browser.wait_page(driver, "Admin")
    text = driver.find_element(By.CSS_SELECTOR, "[data-testid=stMain]").text
    assert "Rows\n4,000" in text and "Positive rate" in text
    browser.screenshot(driver, shots / "admin_upload.png")


def test_every_page_url_as_the_first_request_of_a_fresh_server_shows_the_frame(trained, tmp_path):
    """Before any session has run app.py's st.navigation, Streamlit treats the pages/ folder
    as a legacy page list; the first request for a page URL must still show that page inside
    the frame (ui.frame hands it over): the sidebar with the active run and every registered
    page. A page reaches ui.frame in one of two ways: through ui.require_run (every page but
    Admin) or directly (Admin); the root URL is the third case (app.py's default page). One
    fresh server for each of the three, started at once; each gets its URL as its first
    request, in a tab of its own."""
    from selenium.webdriver.common.by import By

    art, run = trained
    pages = {p: browser.PAGES[p] for p in ("", "segments", "admin")}
    driver = browser.chrome(tmp_path)
    try:
        with browser.app_servers(art, [tmp_path / f"streamlit-{p or 'root'}.log" for p in pages]) as started:
            urls = dict(zip(pages, started))
            tabs = {}
            for path, url in urls.items():  # every server's first request, in flight together
                driver.switch_to.new_window("tab")
                driver.get(f"{url}/{path}")
                tabs[path] = driver.current_window_handle
            for path, (nav, title) in pages.items():
                driver.switch_to.window(tabs[path])
                browser.wait_page(driver, title, timeout=120)
                sidebar = driver.find_element(By.CSS_SELECTOR, "[data-testid=stSidebar]").text
                assert run.run_id in sidebar, f"/{path}: no active run in the sidebar"
                links = [a.text.strip() for a in driver.find_elements(By.CSS_SELECTOR, "[data-testid=stSidebarNavLink]")]
                assert links == [n for n, _ in browser.PAGES.values()], f"/{path}: page list {links}"
                active = driver.find_element(By.CSS_SELECTOR, "[data-testid=stSidebarNavLink][aria-current=page]")
                assert active.text.strip() == nav, f"/{path}: {active.text} is marked as the open page"
    finally:
        driver.quit()


def _sidebar(driver) -> str:
    """The sidebar's text ('' while the page has not drawn it yet)."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By

    try:
        return driver.find_element(By.CSS_SELECTOR, "[data-testid=stSidebar]").text
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


def _wait_sidebar(driver, text: str, timeout: float = 240.0) -> str:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = _sidebar(driver)
        if text in got:
            return got
        time.sleep(0.5)
    raise AssertionError(f"'{text}' not in the sidebar after {timeout:.0f} s: {_sidebar(driver)}")


def _start_training(driver, data) -> None:
    """Admin > Retrain: type the data file, press "Train a new run", wait for the job's start."""
    field = next(i for i in driver.find_elements("css selector", "[data-testid=stTextInput] input") if i.is_displayed())
    field.send_keys(str(data))
    field.send_keys("\n")
    browser.wait_page(driver, "Admin")
    browser.click_button(driver, "Train a new run")
    browser.wait_text(driver, "Training started as job")


def _click_retrying(driver, label: str, tries: int = 10) -> None:
    """Click a button that a fragment redraws every 2 s (a redrawn one is a new element)."""
    import time

    from selenium.common.exceptions import StaleElementReferenceException

    for _ in range(tries):
        try:
            browser.click_button(driver, label)
            return
        except (StaleElementReferenceException, StopIteration):
            time.sleep(0.3)
    raise AssertionError(f"no clickable button '{label}'")


@pytest.mark.slow  # a training and three browser sessions
def test_a_training_started_in_the_browser_outlives_the_page_the_browser_and_the_server(tmp_path, small_csv,
                                                                                        settings_file):
    """Admin > Retrain starts a training job; the page is left, the browser closed and the
    server stopped while the job runs; a new server and a new browser session then see the
    job finish and its run current. A second training is then cancelled from the Jobs tab.
    The job's process group is paused (SIGSTOP) while the browser and the server come and go,
    so a small training cannot finish before the server has stopped, whatever the machine's
    speed; it goes on when resumed (SIGCONT)."""
    import os
    import signal
    import time

    from core.ops import jobs
    from core.runs import store
    art = tmp_path / "artifacts"
    art.mkdir()
    env = {"SHOPSPHERE_SETTINGS": str(settings_file)}
    with browser.app_server(art, tmp_path / "first.log", env=env) as url:
        driver = browser.chrome(tmp_path)
        try:
            driver.get(f"{url}/admin")
            browser.wait_page(driver, "Admin")
            _start_training(driver, small_csv)
            [job] = jobs.list_jobs(art)
            job = _running(art, job.job_id)
            os.killpg(job.pid, signal.SIGSTOP)                   # held where it is, still running
            driver.get(url)                                      # leave the page
            _wait_sidebar(driver, "train on")                    # the job in the sidebar of another page
        finally:
            driver.quit()                                         # close the browser
        assert jobs.read(art, job.job_id).active
    running = jobs.read(art, job.job_id)                         # the server has stopped: the job is still there
    assert running.status == "running" and running.pid == job.pid, running
    with browser.app_server(art, tmp_path / "second.log", env=env) as url:
        driver = browser.chrome(tmp_path)
        try:
            driver.get(url)
            _wait_sidebar(driver, "train on")                    # a new server, a new session: the same job
            os.killpg(job.pid, signal.SIGCONT)
            side = _wait_sidebar(driver, "done (trained and made current)")
            done = jobs.read(art, job.job_id)
            assert done.status == "done" and done.run_id == store.current_run_id(art)
            browser.wait_page(driver, browser.PAGES[""][1])
            assert done.run_id in _sidebar(driver), side          # the new run is the active run
            browser.open_page(driver, "admin")
            _start_training(driver, small_csv)
            second = _running(art, next(j for j in jobs.list_jobs(art) if j.job_id != job.job_id).job_id)
            os.killpg(second.pid, signal.SIGSTOP)                 # so that it cannot end before the click
            browser.open_tab(driver, "Admin", "Jobs")
            browser.wait_text(driver, f"Job {second.job_id}")
            asked = art / "jobs" / second.job_id / "cancel"       # what the button writes (core.ops.jobs.cancel)
            for _ in range(5):   # the button is redrawn every 2 s: a click may land on the old one
                _click_retrying(driver, "Cancel this job")
                deadline = time.monotonic() + 5
                while not asked.exists() and time.monotonic() < deadline:
                    time.sleep(0.2)
                if asked.exists():
                    break
            assert asked.exists(), "the Cancel button did not ask the job to stop"
            os.killpg(second.pid, signal.SIGCONT)                 # it takes the cancel as it resumes
            _wait_sidebar(driver, "cancelled", timeout=60)
            assert jobs.read(art, second.job_id).status == "cancelled"
            assert store.current_run_id(art) == done.run_id and store.list_runs(art) == [done.run_id]
            browser.screenshot(driver, tmp_path / "jobs.png")
        finally:
            driver.quit()


def _running(art, job_id, timeout: float = 120.0):
    """The job once its process has started training (state running, a step beyond starting)."""
    import time

    from core.ops import jobs

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = jobs.read(art, job_id)
        if job.status == "running" and job.pid and job.fraction > 0:
            return job
        if not job.active:
            raise AssertionError(f"job {job_id} ended before it could be held: {job.status} {job.error}")
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not start in {timeout:.0f} s")
