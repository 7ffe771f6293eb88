"""Render ``docs/performance.md`` and the README's headline figures from the benchmark records.

Run: ``python -m benchmarks.render`` (``make performance``). Reads the latest record of each
benchmark under ``benchmarks/results/`` (:mod:`benchmarks.records`) and writes
``docs/performance.md``: one section per benchmark with the command that made it, when, on
which code and which machine, and its tables. It replaces the README's block between
``<!-- performance:headline -->`` and ``<!-- /performance:headline -->`` with the headline
figures of :data:`HEADLINE`. ``--check`` writes nothing and exits 1 when either file is not
what the records render (the test suite runs this check).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from benchmarks.records import RESULTS, ROOT

PAGE = ROOT / "docs" / "performance.md"
README = ROOT / "README.md"
#: The sections of the page, in order: a benchmark without a record is left out.
ORDER = ("pipeline-240k", "pipeline-1200k", "default-run", "segmentation-methods", "propensity-training",
         "propensity-real", "propensity-scoring", "propensity-dask", "design", "tables", "log-cdnow", "log-generated",
         "value-cdnow", "value-generated", "value-scale", "log-scale", "readout", "sinks", "app-pages", "app-load")
#: The README's headline figures: (benchmark, figure key).
HEADLINE = (("default-run", "xgboost"), ("default-run", "segments"), ("pipeline-240k", "train"),
            ("pipeline-240k", "score"), ("pipeline-1200k", "train"), ("log-cdnow", "versus_bgnbd"),
            ("propensity-real", "marketing"), ("app-load", "pages"))


def latest(results: Path = RESULTS) -> dict[str, dict]:
    """The newest record of each benchmark: ``{name: record}``."""
    out = {}
    for folder in sorted(p for p in Path(results).iterdir() if p.is_dir()) if Path(results).is_dir() else []:
        files = sorted(folder.glob("*.json"))
        if files:
            out[folder.name] = json.loads(files[-1].read_text(encoding="utf-8"))
    return out


def _cell(value) -> str:
    text = "–" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(t: dict) -> str:
    lines = [f"**{t['title']}**", "", "| " + " | ".join(t["columns"]) + " |",
             "| " + " | ".join("---" for _ in t["columns"]) + " |"]
    lines += ["| " + " | ".join(_cell(r.get(c)) for c in t["columns"]) + " |" for r in t["rows"]]
    if t.get("note"):
        lines += ["", t["note"]]
    return "\n".join(lines)


def _machine(r: dict) -> str:
    m = r["machine"]
    mem = f", {m['memory_gb']:g} GB" if m.get("memory_gb") else ""
    return (f"{m['cpu']}, {m['cores']} cores{mem}, Python {m['python']}; a fixed loop of 10 million additions takes "
            f"{m['calibration_s']:.2f} s there")


def anchor(title: str) -> str:
    """The GitHub anchor of a heading."""
    return re.sub(r"[^a-z0-9 -]", "", title.lower()).replace(" ", "-")


def page(records: dict[str, dict]) -> str:
    """``docs/performance.md`` from the records."""
    names = [n for n in ORDER if n in records] + sorted(set(records) - set(ORDER))
    out = ["# Performance and model figures", "",
           "Every figure on this page comes from a benchmark record under `benchmarks/results/`: the command that "
           "made it, the commit and the machine it ran on. The page is rendered by `python -m benchmarks.render` "
           "(`make performance`) from the latest record of each benchmark; the test suite checks that it is. To "
           "measure again, run the command of a section, then render.", "",
           "Timings depend on the machine: each section names its machine and how long a fixed Python loop takes "
           "there, so that two records can be compared.", ""]
    out += [f"- [{records[n]['title']}](#{anchor(records[n]['title'])})" for n in names]
    for n in names:
        r = records[n]
        out += ["", f"## {r['title']}", "", f"Command: `{r['command']}`  ", f"Measured {r['date'][:10]} on commit "
                f"`{r['commit']}`; machine: {_machine(r)}."]
        for note in r.get("notes", []):
            out += ["", note]
        for t in r.get("tables", []):
            out += ["", _table(t)]
    return "\n".join(out) + "\n"


def headline(records: dict[str, dict]) -> str:
    """The README's headline figures: one line each, linking to its section of the page."""
    lines = []
    for name, key in HEADLINE:
        r = records.get(name)
        if r and key in r.get("figures", {}):
            lines.append(f"- {r['figures'][key]['shown']} ([{r['title']}](docs/performance.md#{anchor(r['title'])}), "
                         f"{r['date'][:10]})")
    return "\n".join(lines) or "- (no benchmark record yet: see docs/performance.md)"


def readme(text: str, block: str) -> str:
    """``text`` with the headline block replaced. Raises ValueError when its markers are missing."""
    pattern = re.compile(r"(<!-- performance:headline -->\n)(?:.*?\n)?(<!-- /performance:headline -->)", re.S)
    if not pattern.search(text):
        raise ValueError("README.md: no <!-- performance:headline --> ... <!-- /performance:headline --> markers")
    return pattern.sub(lambda m: m.group(1) + block + "\n" + m.group(2), text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 when a file is not what it renders")
    args = ap.parse_args(argv)
    records = latest()
    want = {PAGE: page(records), README: readme(README.read_text(encoding="utf-8"), headline(records))}
    stale = [p for p, text in want.items() if not p.is_file() or p.read_text(encoding="utf-8") != text]
    if args.check:
        for p in stale:
            print(f"{p.relative_to(ROOT)} is not what `python -m benchmarks.render` makes of the records",
                  file=sys.stderr)
        return 1 if stale else 0
    for p in stale:
        p.write_text(want[p], encoding="utf-8")
        print(f"wrote {p.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
