"""Every page, on three runs side by side in one runs folder (the small default table, the
marketing table with a spec drafted as the Admin page drafts it, a CDNOW log subset), speaks
as people read: no None or NaN, no raw column name of the table, no number of five or more
digits without separators, persona names that neither contradict themselves nor repeat
another segment's. The data set is chosen in the sidebar; the other data sets' runs never
replace the default."""
from __future__ import annotations

import re

import pytest

from core.inputs import spec_draft, tables
from core.runs import store
from tests.support import CDNOW, MARKETING, REPO, slow_fixture, small_settings

pytestmark = pytest.mark.skipif(not (MARKETING.exists() and CDNOW.exists()), reason="../shared/data is absent")

PAGES = ["week", "segments", "matrix", "cohort", "overview", "propensity", "projection", "approach"]
#: The visible text of these elements is read (the tables' own cells are formatted by the browser).
TEXT_ELEMENTS = ("title", "header", "subheader", "markdown", "caption", "info", "warning", "success", "error")


@slow_fixture(scope="module")
def three_runs(tmp_path_factory, trained):
    import shutil

    from core.pipeline.training import train, train_log

    art = tmp_path_factory.mktemp("three")
    settings = small_settings(art)
    shutil.copytree(trained[0] / "runs" / trained[1].run_id, art / "runs" / trained[1].run_id)  # the small default
    store.set_current(art, trained[1].run_id, "train")
    default = store.load_run(art, trained[1].run_id)
    draft = spec_draft.draft_spec(tables.read_table(MARKETING), name="marketing_campaign", source=MARKETING.name)
    spec = art / "marketing_campaign.toml"
    spec.write_text(spec_draft.spec_toml(draft, MARKETING.name))
    marketing = train(MARKETING, spec, settings)
    lines = CDNOW.read_text().splitlines()
    log = art / "cdnow_subset.txt"  # the first 2,500 customers' purchases
    log.write_text("\n".join([lines[0]] + [x for x in lines[1:] if int(x.split()[0]) <= 2500]) + "\n")
    cdnow = train_log(log, REPO / "configs" / "cdnow.toml", settings)
    return art, {"shopsphere": default, "marketing_campaign": marketing, "cdnow": cdnow}


def test_the_default_stays_while_other_data_sets_are_trained(three_runs):
    art, runs = three_runs
    assert store.current_run_id(art) == runs["shopsphere"].run_id
    assert store.current_runs(art) == {name: run.run_id for name, run in runs.items()}


def _visible(at) -> list[str]:
    out = []
    for kind in TEXT_ELEMENTS:
        out += [str(e.value) for e in getattr(at, kind)]
    out += [f"{m.label} {m.value}" for m in at.metric]
    return out


NUMBER = re.compile(r"(?<![\w.,:/#`@+-])\d{5,}(?![\w-])")
RAW = re.compile(r"\b(None|NaN|nan)\b")


@pytest.mark.parametrize("dataset", ["shopsphere", "marketing_campaign", "cdnow"])
def test_every_page_speaks_as_people_read(three_runs, dataset, monkeypatch):
    from streamlit.testing.v1 import AppTest

    art, runs = three_runs
    run = runs[dataset]
    monkeypatch.setenv("SHOPSPHERE_ARTIFACTS", str(art))
    monkeypatch.chdir(REPO)
    spec = run.spec()
    raw_names = {c.name for c in spec.columns if c.name != c.label and (not c.name.islower() or "_" in c.name)}
    for page in PAGES:
        at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
        at.query_params["dataset"] = dataset
        at.run()
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, (dataset, page, at.exception)
        assert any(run.run_id in m.value for m in at.sidebar.markdown), (dataset, page, "another data set is shown")
        for text in _visible(at):
            assert not RAW.search(text), (dataset, page, text)
            assert not NUMBER.search(text.replace(run.run_id, "")), (dataset, page, text)
        if page in ("week", "segments", "matrix", "cohort"):  # no None or NaN in a table's cell either
            for table in at.dataframe:
                v = table.value
                empty = [c for c in v.columns if v[c].isna().any()
                         or (v[c].dtype == object and v[c].astype(str).isin(["None", "nan", "NaN"]).any())]
                assert not empty, (dataset, page, empty)
        for text in _visible(at):
            if page in ("week", "segments", "matrix", "cohort"):  # the marketer's pages use labels, not names
                shown = {n for n in raw_names if re.search(rf"(?<![\w`]){re.escape(n)}(?![\w`])", text)}
                assert not shown, (dataset, page, shown, text)


@pytest.mark.parametrize("dataset", ["shopsphere", "marketing_campaign", "cdnow"])
def test_persona_names_are_readable_and_distinct(three_runs, dataset):
    _, runs = three_runs
    names = list(runs[dataset].scoring().segment_names.values())
    assert len({frozenset(n.lower().split(", ")) for n in names}) == len(names), names
    for name in names:
        parts = [p.lower() for p in name.split(", ")]
        assert len(name) <= 40 + len(" (segment 10)"), name
        assert not ({"lapsed", "recent"} <= {w for p in parts for w in p.split()}), name
        for a in parts:  # no part says high and low of the same thing
            for b in parts:
                if a != b and a.split()[0] in ("high", "low") and b.split()[0] in ("high", "low"):
                    assert a.split()[1:] != b.split()[1:], name


@pytest.mark.skipif(not __import__("tests.app.browser", fromlist=["x"]).browser_available()
                    and not __import__("os").environ.get("CI"), reason="Debian chromium/chromium-driver not installed")
def test_no_table_is_wider_than_the_page_at_1366_pixels_on_any_data_set(three_runs, tmp_path):
    """The pages that show tables, on the two real data sets (their persona names and labels are the
    longest), in headless Chromium at 1366 px: no table's columns overflow it. (Every page of all three
    renders in the AppTest above.)"""
    from tests.app import browser

    art, runs = three_runs
    driver = browser.chrome(tmp_path)
    try:
        with browser.app_server(art, tmp_path / "streamlit.log") as url:
            for dataset in ("marketing_campaign", "cdnow"):
                for path in ("segments", "matrix", "cohort", "propensity", "approach"):
                    title = browser.PAGES[path][1]
                    driver.get(f"{url}/{path}?dataset={dataset}")
                    browser.wait_page(driver, title, timeout=120)
                    assert driver.get_window_size()["width"] == 1366
                    assert browser.overflowing_tables(driver) == [], (dataset, path)
    finally:
        driver.quit()
