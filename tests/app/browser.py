"""Drive the app in headless Chromium: start Streamlit on a free port, open pages, wait
until they finished drawing, time them, save screenshots, download files.

Uses Debian's ``chromium`` and ``chromium-driver`` through Selenium (no browser download).
Shared by ``tests/app/test_browser.py`` (a small run, in CI) and ``benchmarks/bench_app.py``
(the default 240K run: render times and the screenshots in ``docs/screenshots/``).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from tests.support import REPO

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

#: Page path -> (sidebar title, the page's H1) for every page in ``app.py``.
PAGES = {
    "": ("This week", "This week"),
    "segments": ("Segments", "Segments"),
    "matrix": ("Segment matrix", "Propensity by segment"),
    "cohort": ("Cohort builder", "Cohort builder"),
    "score": ("Score a file", "Score a file"),
    "overview": ("Run overview", "Customer intelligence overview"),
    "propensity": ("Propensity", "Propensity model"),
    "projection": ("Projection", "Projection explorer"),
    "approach": ("Clustering vs classification", "Clustering or classification?"),
    "admin": ("Admin", "Admin"),
}


def browser_available() -> bool:
    """True when Debian's chromium and chromedriver are installed and selenium imports."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return False
    return Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def app_server(artifacts: Path, log: Path, timeout: float = 60.0, env: dict | None = None, args: list | None = None):
    """Run ``streamlit run app.py`` on a free localhost port against ``artifacts``; yields the
    base URL and stops the server on exit. Raises RuntimeError when it does not answer in
    ``timeout`` seconds (the server's output is in ``log``). ``env``: more environment
    variables for the server (``SHOPSPHERE_SETTINGS``, say); ``args``: more server flags."""
    with app_servers(artifacts, [log], timeout, env, args) as urls:
        yield urls[0]


@contextmanager
def app_servers(artifacts: Path, logs: list[Path], timeout: float = 120.0, env: dict | None = None,
                args: list | None = None):
    """As :func:`app_server`, for ``len(logs)`` servers started at once (their start-up
    overlaps); yields their base URLs in order and stops them all on exit."""
    import urllib.request

    extra = env or {}
    env = dict(os.environ, SHOPSPHERE_ARTIFACTS=str(artifacts), **extra)
    env.pop("SHOPSPHERE_ADMIN_PASSWORD", None)
    procs, urls = [], []
    try:
        for log in logs:
            port = free_port()
            cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.address",
                   "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false", *(args or [])]
            with open(log, "w") as out:
                procs.append(subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT))
            urls.append(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + timeout
        for proc, url, log in zip(procs, urls, logs):
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"streamlit did not start at {url}; see {log}")
                time.sleep(0.2)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def chrome(download_dir: Path, width: int = 1366, height: int = 900):
    """A headless Chromium driven by Selenium, laptop-sized, downloading into ``download_dir``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", "--hide-scrollbars"):
        opts.add_argument(arg)
    opts.add_experimental_option("prefs", {"download.default_directory": str(download_dir),
                                           "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(download_dir)})
    return driver


def _state(driver) -> dict:
    return driver.execute_script("""
        const app = document.querySelector('[data-testid=stApp]');
        const h1 = document.querySelector('[data-testid=stMain] h1');
        return {script: app ? app.getAttribute('data-test-script-state') : null,
                title: h1 ? h1.innerText.trim() : null,
                charts: document.querySelectorAll('.js-plotly-plot .main-svg').length,
                elements: document.querySelectorAll('[data-testid=stMain] [data-testid=stElementContainer]').length,
                stale: document.querySelectorAll('[data-stale=true]').length,
                exceptions: Array.from(document.querySelectorAll('[data-testid=stException]')).map(e => e.innerText)};
    """)


SETTLE = 0.3  # seconds the page must stay unchanged to count as drawn (React draws a frame late)


def wait_page(driver, title: str, min_charts: int = 0, timeout: float = 60.0) -> tuple[float, dict]:
    """Wait until the page titled ``title`` finished running, drew ``min_charts`` Plotly charts
    and stayed unchanged for :data:`SETTLE` seconds.

    Returns ``(monotonic time it was first seen complete, state)``; ``state["charts"]`` counts
    drawn Plotly SVG layers. Raises RuntimeError on a timeout or when the page shows a
    Python exception.
    """
    deadline = time.monotonic() + timeout
    since, last = None, None
    while True:
        s = _state(driver)
        now = time.monotonic()
        if s["exceptions"]:
            raise RuntimeError(f"page '{title}' shows an exception: {s['exceptions'][0][:300]}")
        done = (s["title"] == title and s["script"] == "notRunning" and s["stale"] == 0
                and s["charts"] >= min_charts)
        if done and last == (s["elements"], s["charts"]):
            if now - since >= SETTLE:
                return since, s
        else:
            since, last = (now, (s["elements"], s["charts"])) if done else (None, None)
        if now > deadline:
            raise RuntimeError(f"page '{title}' not drawn in {timeout:.0f} s (last state {s})")
        time.sleep(0.05)


def open_page(driver, path: str, min_charts: int = 0, timeout: float = 60.0) -> tuple[float, dict]:
    """Open a page from the sidebar (the same session, so Streamlit's caches are warm after a
    first visit) and return ``(seconds until drawn, state)``."""
    from selenium.webdriver.common.by import By

    nav, title = PAGES[path]
    link = next(a for a in driver.find_elements(By.CSS_SELECTOR, "[data-testid=stSidebarNavLink]")
                if a.text.strip() == nav)
    t0 = time.monotonic()
    link.click()
    drawn, state = wait_page(driver, title, min_charts, timeout)
    return drawn - t0, state


def open_tab(driver, page_title: str, label: str, min_charts: int = 0, timeout: float = 60.0) -> tuple[float, dict]:
    """Click the tab ``label`` on the open page (tabs that rerun the script) and return
    ``(seconds until drawn, state)``."""
    from selenium.webdriver.common.by import By

    tab = next(b for b in driver.find_elements(By.CSS_SELECTOR, "[role=tab]") if b.text.strip() == label)
    t0 = time.monotonic()
    tab.click()
    drawn, state = wait_page(driver, page_title, min_charts, timeout)
    return drawn - t0, state


def wait_element(driver, css: str, timeout: float = 30.0):
    """The first element matching the CSS selector ``css``, waiting up to ``timeout`` seconds
    (Selenium's ``WebDriverWait``)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(ec.element_to_be_clickable((By.CSS_SELECTOR, css)))


def click_tab(driver, label: str) -> None:
    """Show the tab ``label`` of a page whose tabs do not rerun (all drawn at once)."""
    from selenium.webdriver.common.by import By

    next(b for b in driver.find_elements(By.CSS_SELECTOR, "[role=tab]") if b.text.strip() == label).click()
    time.sleep(0.5)


def click_button(driver, label: str) -> None:
    """Click the visible button whose text is ``label``."""
    from selenium.webdriver.common.by import By

    next(b for b in driver.find_elements(By.CSS_SELECTOR, "button")
         if b.text.strip() == label and b.is_displayed()).click()


def upload(driver, path: Path) -> None:
    """Give ``path`` to the page's (first visible) file uploader."""
    from selenium.webdriver.common.by import By

    next(i for i in driver.find_elements(By.CSS_SELECTOR, "input[type=file]")).send_keys(str(path))


def wait_text(driver, text: str, timeout: float = 60.0) -> float:
    """Wait until the main area shows ``text``; returns the seconds waited. Raises
    RuntimeError on a timeout."""
    from selenium.webdriver.common.by import By

    t0 = time.monotonic()
    while text not in driver.find_element(By.CSS_SELECTOR, "[data-testid=stMain]").text:
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"'{text}' not shown after {timeout:.0f} s")
        time.sleep(0.1)
    return time.monotonic() - t0


def screenshot(driver, path: Path, full_height: bool = True, max_height: int = 2400) -> Path:
    """Save a PNG of the page (the whole scrolling main area, up to ``max_height`` pixels)."""
    if full_height:
        h = driver.execute_script(
            "const m = document.querySelector('[data-testid=stMain]'); return m ? m.scrollHeight : 900;")
        w = driver.get_window_size()["width"]
        driver.set_window_size(w, min(max(int(h) + 40, 900), max_height))
        time.sleep(0.3)
    driver.save_screenshot(str(path))
    if full_height:
        driver.set_window_size(driver.get_window_size()["width"], 900)
    return path


def overflowing_tables(driver) -> list[str]:
    """The tables (``st.dataframe``) on the page whose columns do not fit their width (their
    grid scrolls sideways) or that reach past the main area, each by its first column names;
    empty when every table fits."""
    return driver.execute_script("""
        const main = document.querySelector('[data-testid=stMain]').getBoundingClientRect();
        const out = [];
        for (const t of document.querySelectorAll('[data-testid=stMain] [data-testid=stDataFrame]')) {
            if (t.offsetParent === null) continue;  // in a closed fold
            const box = t.getBoundingClientRect();
            const grid = t.querySelector('.dvn-scroller');
            const wide = grid && grid.scrollWidth > grid.clientWidth + 2;
            if (wide || box.right > main.right + 2) {
                const head = Array.from(t.querySelectorAll('[role=columnheader]')).slice(0, 3).map(h => h.innerText);
                out.push(head.join(' | ') + ` (${grid ? grid.scrollWidth : 0} > ${grid ? grid.clientWidth : 0})`);
            }
        }
        return out;
    """)


def wait_download(folder: Path, suffix: str = ".csv", timeout: float = 30.0) -> Path:
    """The first completed download ending in ``suffix`` in ``folder``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [p for p in folder.glob(f"*{suffix}") if not p.name.endswith(".crdownload")]
        if done:
            return done[0]
        time.sleep(0.2)
    raise RuntimeError(f"no {suffix} download in {folder} after {timeout:.0f} s")
