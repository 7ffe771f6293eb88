"""Render time of every page on a run, and the screenshots in ``docs/screenshots/``.

Starts the app on a free localhost port against the runs folder (default: the settings'
``artifacts``, i.e. the default 240K-customer run after ``make train``), opens each page
from the sidebar in headless Chromium (Debian's ``chromium`` + ``chromium-driver`` through
Selenium), and times it from the click until the page finished running, drew its Plotly
charts and stayed unchanged (see ``tests/app/browser.py``). Each page is opened ``--visits``
times in one browser session: the first visit loads the run's tables into Streamlit's
caches, the later ones show what a user waits for afterwards (the target: under 2 s).

Usage::

    python -m benchmarks.bench_app [--artifacts artifacts] [--visits 3] [--shots docs/screenshots]
    python -m benchmarks.bench_app --artifacts DIR --dataset NAME --visits 1 --shots docs/screenshots/NAME
                                   [--pages overview,segments,matrix]

Prints one line per page: first visit, then the median of the later ones, in seconds.
Screenshots are taken on the last visit, 1366 px wide (a laptop screen), then shrunk to
at most 1000 px wide to keep the repository small.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from benchmarks.records import Record, command_line
from core.settings import load_settings
from tests.app import browser

REPO = Path(__file__).resolve().parents[1]

CHARTS = {"segments": 1, "projection": 1, "propensity": 1, "matrix": 1}  # pages that must draw a chart
PROPENSITY_TABS = {"Calibration": 1, "Lift, capture and budget": 1, "By segment": 0, "What drives the score": 1,
                   "SHAP summary and dependence": 1, "Look up a customer": 0}


def _shrink(path: Path, width: int = 1000) -> None:
    """Resize a PNG to at most ``width`` pixels wide (Pillow, shipped with Streamlit)."""
    from PIL import Image

    img = Image.open(path)
    if img.width > width:
        img = img.resize((width, round(img.height * width / img.width)), Image.LANCZOS)
    img.convert("RGB").quantize(colors=256).save(path, optimize=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--artifacts", default=None, help="runs folder (default: from configs/default.toml)")
    ap.add_argument("--visits", type=int, default=3, help="visits per page (first = cold cache)")
    ap.add_argument("--shots", default=str(REPO / "docs" / "screenshots"), help="screenshot folder ('' = none)")
    ap.add_argument("--pages", default=None, help="comma-separated pages to open (default: all), e.g. "
                                                  "week,segments,matrix")
    ap.add_argument("--dataset", default=None, help="the pages of this data set's current run (the sidebar's "
                                                    "choice): screenshots only, no timing record (the page timings "
                                                    "are measured on the default run)")
    ap.add_argument("--readout-outcomes", default=None,
                    help="after the pages: the Cohort builder's Campaign readout tab on the newest saved cohort with "
                         "these outcomes (a CSV), timed, and its screenshot (readout.png); and the Admin page's Jobs "
                         "tab (jobs.png)")
    args = ap.parse_args()
    art = Path(args.artifacts or load_settings(REPO / "configs" / "default.toml").artifacts_dir)
    if not art.is_absolute():
        art = REPO / art
    shots = Path(args.shots) if args.shots else None
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
    downloads = Path("/tmp") / f"bench_app_downloads_{int(time.time())}"
    downloads.mkdir()
    wanted = None if args.pages is None else {"" if p == "week" else p for p in args.pages.split(",")}
    pages = [p for p in browser.PAGES if wanted is None or p in wanted]
    times: dict[str, list[float]] = {p: [] for p in pages}
    record = Record("app-pages", "The app's pages in a browser", command_line())
    with browser.app_server(art, downloads / "streamlit.log") as url:
        driver = browser.chrome(downloads)
        try:
            t0 = time.monotonic()
            driver.get(url + (f"/?dataset={args.dataset}" if args.dataset else ""))
            drawn, _ = browser.wait_page(driver, browser.PAGES[""][1], timeout=300)
            record.note(f"Headless Chromium against the runs folder's current run; the app's start (first page, cold "
                        f"caches) took {drawn - t0:.2f} s.")
            for visit in range(args.visits):
                for path in [p for p in pages if p] + ([""] if "" in pages else []):
                    seconds, state = browser.open_page(driver, path, CHARTS.get(path, 0), timeout=300)
                    times[path].append(seconds)
                    if shots and visit == args.visits - 1:
                        out = browser.screenshot(driver, shots / f"{path or 'week'}.png")
                        _shrink(out)
                    if path == "propensity":  # its sections are tabs: time each one
                        for label, charts in PROPENSITY_TABS.items():
                            seconds, _ = browser.open_tab(driver, browser.PAGES[path][1], label, charts, timeout=300)
                            times.setdefault(f"  tab: {label}", []).append(seconds)
                            if shots and visit == args.visits - 1 and label == "SHAP summary and dependence":
                                _shrink(browser.screenshot(driver, shots / "propensity_drivers.png"))
                        browser.open_tab(driver, browser.PAGES[path][1], "Quality", 1, timeout=300)
                    if path == "admin" and shots and visit == args.visits - 1:
                        browser.click_tab(driver, "Run history")
                        _shrink(browser.screenshot(driver, shots / "admin_history.png"))
                        browser.click_tab(driver, "Upload a table")
                        browser.upload(driver, REPO / "data" / "shopsphere.parquet")
                        browser.wait_page(driver, "Admin", timeout=300)
                        browser.click_button(driver, "Check the table")
                        seconds = browser.wait_text(driver, "Validation report", timeout=300)
                        browser.wait_page(driver, "Admin", timeout=300)
                        record.note(f"Admin upload of data/shopsphere.parquet: the validation report after "
                                    f"{seconds:.2f} s.")
                        _shrink(browser.screenshot(driver, shots / "admin_upload.png"))
            if args.readout_outcomes:
                browser.open_page(driver, "cohort", timeout=300)
                browser.open_tab(driver, browser.PAGES["cohort"][1], "Campaign readout", timeout=300)
                browser.upload(driver, Path(args.readout_outcomes).resolve())
                seconds = browser.wait_text(driver, "Readout of", timeout=300)
                browser.wait_page(driver, browser.PAGES["cohort"][1], min_charts=1, timeout=300)
                record.note(f"The campaign readout was shown {seconds:.2f} s after the outcomes were uploaded.")
                if shots:
                    _shrink(browser.screenshot(driver, shots / "readout.png"))
                browser.open_page(driver, "admin", timeout=300)
                browser.click_tab(driver, "Jobs")
                if shots:
                    _shrink(browser.screenshot(driver, shots / "jobs.png"))
        finally:
            driver.quit()
    if args.dataset:
        print(f"screenshots of data set {args.dataset} in {shots} (no record: timings are of the default run)")
        return 0
    rows = [{"page": (path or "week").strip(), "first visit (s)": f"{ts[0]:.2f}",
             "later visits, median (s)": f"{statistics.median(ts[1:]):.2f}" if len(ts) > 1 else None}
            for path, ts in times.items()]
    record.table(f"Render time per page ({args.visits} visits each; the target after the first: under 2 s)", rows)
    record.write()
    if shots:
        print(f"screenshots in {shots}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
