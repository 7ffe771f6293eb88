"""Figures that write themselves: benchmark records (:mod:`benchmarks.records`) and the page
rendered from them (:mod:`benchmarks.render`)."""
from __future__ import annotations

import json

from benchmarks import render
from benchmarks.records import Record, machine


def test_the_committed_page_and_readme_are_what_the_committed_records_render():
    assert render.main(["--check"]) == 0, "run `python -m benchmarks.render` (make performance) and commit"


def test_a_record_names_its_command_commit_date_and_machine(tmp_path):
    r = Record("demo", "A demo benchmark", "python -m benchmarks.demo --rows 10")
    r.table("Wall time", [{"step": "fit", "seconds": "1.5"}, {"step": "score", "seconds": None}], "A note | with a bar.")
    r.figure("fit", 1.5, "Fitting: 1.5 s")
    r.note("Measured on nothing much.")
    path = r.write(tmp_path)
    data = json.loads(path.read_text())
    assert path.parent.name == "demo" and data["command"] == "python -m benchmarks.demo --rows 10"
    assert data["commit"] and data["date"].endswith("+00:00")
    m = data["machine"]
    assert m["cores"] >= 1 and m["cpu"] and m["calibration_s"] > 0
    page = render.page(render.latest(tmp_path))
    assert "## A demo benchmark" in page and "Command: `python -m benchmarks.demo --rows 10`" in page
    assert f"{m['cores']} cores" in page and "| fit | 1.5 |" in page and "| score | – |" in page
    assert "A note \\| with a bar." not in page and "A note | with a bar." in page  # notes are prose, cells escaped
    assert render.headline({"default-run": {**data, "title": "T", "figures": {"xgboost": {"shown": "x"}}}}) == \
        "- x ([T](docs/performance.md#t), " + data["date"][:10] + ")"


def test_the_newest_record_of_a_benchmark_is_the_one_rendered(tmp_path):
    for stamp, value in (("20261201-000000", "old"), ("20261202-000000", "new")):
        folder = tmp_path / "demo"
        folder.mkdir(exist_ok=True)
        (folder / f"{stamp}.json").write_text(json.dumps({
            "name": "demo", "title": "Demo", "command": "c", "date": "2026-12-02T00:00:00+00:00", "commit": "abc",
            "machine": {**machine(), "calibration_s": 0.5}, "figures": {}, "notes": [value], "tables": []}))
    assert render.latest(tmp_path)["demo"]["notes"] == ["new"]


def test_the_readme_block_needs_its_markers():
    import pytest

    assert render.readme("a\n<!-- performance:headline -->\nold\n<!-- /performance:headline -->\nb\n", "- new") == \
        "a\n<!-- performance:headline -->\n- new\n<!-- /performance:headline -->\nb\n"
    with pytest.raises(ValueError, match="performance:headline"):
        render.readme("no markers", "- new")


def test_every_link_into_the_performance_page_finds_its_section():
    """A doc that points to a measured figure points to a section the records render."""
    import re

    from tests.support import REPO

    sections = {render.anchor(line[3:]) for line in render.PAGE.read_text(encoding="utf-8").splitlines()
                if line.startswith("## ")}
    broken = []
    for path in [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]:
        for target in re.findall(r"performance\.md#([a-z0-9-]+)", path.read_text(encoding="utf-8")):
            if target not in sections:
                broken.append(f"{path.relative_to(REPO)}: #{target}")
    assert broken == []


def test_records_written_are_not_taken_for_changed_code(tmp_path, monkeypatch):
    """A benchmark's record under benchmarks/results must not mark the next record '+uncommitted';
    a changed code file must."""
    import subprocess

    from benchmarks import records

    repo = tmp_path / "repo"
    (repo / "benchmarks" / "results" / "demo").mkdir(parents=True)
    (repo / "core").mkdir()
    (repo / "core" / "a.py").write_text("x = 1\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "c"], check=True)
    monkeypatch.setattr(records, "ROOT", repo)
    monkeypatch.setattr(records, "RESULTS", repo / "benchmarks" / "results")
    (repo / "benchmarks" / "results" / "demo" / "20261207T000000.json").write_text("{}")
    assert not records.commit().endswith("+uncommitted")
    (repo / "core" / "a.py").write_text("x = 2\n")
    assert records.commit().endswith("+uncommitted")
