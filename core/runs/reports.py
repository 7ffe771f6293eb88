"""Monitoring reports (drift, backtest, retrain, readout) kept beside the runs, under
``artifacts/monitoring/<run_id>/``, so that runs stay immutable."""
from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from core.runs.store import write_json


def save_monitoring(artifacts: Path, run_id: str, kind: str, report: dict) -> Path:
    """Write a monitoring report (``kind``: ``drift`` or ``backtest``) beside the runs, at
    ``artifacts/monitoring/<run_id>/<kind>-<UTC time>.json`` (runs themselves stay
    immutable), atomically; returns its path."""

    folder = Path(artifacts) / "monitoring" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{kind}-{datetime.now(timezone.utc).strftime('%Y%m%d-%H%M%S')}.json"
    n = 1
    while path.exists():
        n += 1
        path = folder / f"{kind}-{datetime.now(timezone.utc).strftime('%Y%m%d-%H%M%S')}-{n}.json"
    tmp = path.with_name(f".{path.name}.tmp")
    write_json(tmp, report)
    os.replace(tmp, path)
    return path


def monitoring_reports(artifacts: Path, run_id: str, kind: str) -> list[Path]:
    """The run's saved monitoring reports of ``kind``, newest first."""
    folder = Path(artifacts) / "monitoring" / run_id
    return sorted(folder.glob(f"{kind}-*.json"), reverse=True) if folder.is_dir() else []
