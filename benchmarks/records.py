"""Benchmark records: what a benchmark measured, where, when and with which command.

Each benchmark builds a :class:`Record` (its tables of figures, a few headline figures, its
notes) and writes it as JSON under ``benchmarks/results/<name>/<UTC time>.json``, with the
command that made it, the commit of the code (``+uncommitted`` when the code differed from
it), the date and a fingerprint of the machine: CPU model, cores, memory, and the seconds a
fixed Python loop takes there (:func:`calibration_seconds`), so that two records can be
told apart by machine as well as by code. ``python -m benchmarks.render`` renders
``docs/performance.md`` (and the README's headline figures) from the latest record of each
benchmark; no figure in the docs is typed by hand.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
#: The code a benchmark measures: a change here since the last commit marks its records.
CODE = ("core", "pages", "ui.py", "app.py", "benchmarks", "configs", "pyproject.toml", "requirements.txt")


def calibration_seconds(repeats: int = 3) -> float:
    """The fastest of ``repeats`` runs of a fixed loop (10 million additions in Python),
    seconds: how fast this machine runs the interpreter, to compare timings of two records."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        x = 0
        for i in range(10_000_000):
            x += i
        best = min(best, time.perf_counter() - t0)
    return round(best, 3)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def machine() -> dict:
    """This machine: CPU model, cores, memory (GB), Python, and :func:`calibration_seconds`."""
    return {"cpu": _cpu_model(), "cores": os.cpu_count(), "memory_gb": _memory_gb(),
            "python": platform.python_version(), "calibration_s": calibration_seconds()}


def commit() -> str:
    """The short commit of the code, ``+uncommitted`` when :data:`CODE` differs from it (the
    records under :data:`RESULTS` aside: they are what benchmarks write, not code);
    ``unknown`` outside a git checkout."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", *CODE, f":(exclude){RESULTS.relative_to(ROOT)}"],
                               cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+uncommitted" if dirty else "")


@dataclass
class Record:
    """One benchmark's figures.

    Parameters
    ----------
    name : the benchmark's key (a folder of ``benchmarks/results``), e.g. ``pipeline-240k``.
    title : the heading of its section in ``docs/performance.md``.
    command : the command that made it, as a user types it.
    """

    name: str
    title: str
    command: str
    tables: list[dict] = field(default_factory=list)
    figures: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def table(self, title: str, rows: list[dict], note: str | None = None) -> None:
        """Add a table: ``rows`` of ``{column: value}`` (values as they are to be shown),
        columns in the order of the first row."""
        self.tables.append({"title": title, "columns": list(rows[0]) if rows else [], "rows": rows, "note": note})

    def figure(self, key: str, value, shown: str) -> None:
        """Add a headline figure: its ``value`` and how it reads (``shown``)."""
        self.figures[key] = {"value": value, "shown": shown}

    def note(self, text: str) -> None:
        """Add a sentence said under the section's heading."""
        self.notes.append(text)

    def to_json(self) -> dict:
        return {"name": self.name, "title": self.title, "command": self.command,
                "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "commit": commit(),
                "machine": machine(), "figures": self.figures, "notes": self.notes, "tables": self.tables}

    def write(self, folder: Path = RESULTS) -> Path:
        """Write the record as ``<folder>/<name>/<UTC time>.json`` and print where; returns the path."""
        data = self.to_json()
        path = Path(folder) / self.name / f"{data['date'][:19].replace(':', '').replace('-', '')}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"record: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}", file=sys.stderr)
        return path


def command_line() -> str:
    """How this benchmark was started, as a user types it (``python -m benchmarks.NAME ARGS``)."""
    module = Path(sys.argv[0]).stem
    return " ".join(["python -m benchmarks." + module, *sys.argv[1:]])
