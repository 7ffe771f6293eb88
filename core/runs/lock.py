"""The training lock: one training at a time per runs folder, and who holds it."""
from __future__ import annotations

import json
import os
import platform
import sys
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import filelock

from core.errors import DataError

TRAINING_LOCK = ".training.lock"


#: Who holds the training lock and since when (JSON beside the lock, written once it is held).
LOCK_HOLDER = ".training.lock.json"


def training_lock(artifacts: Path):
    """A lock held while a run is trained into ``artifacts`` (``filelock.FileLock``: an OS
    file lock, released by the OS if the process dies, so a killed training never leaves a
    stale lock). Use as a context manager; raises DataError at once when another training
    holds it, naming who (:func:`training_lock_holder`). While held, ``.training.lock.json``
    says which process holds it (id, command, host) and since when."""

    @contextmanager
    def _held():
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(Path(artifacts) / TRAINING_LOCK))
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            holder = training_lock_holder(artifacts, locked=True)
            raise DataError(f"another training is running in {artifacts}"
                            + (f" ({holder})" if holder else "") + ": wait for it to finish "
                            "(the current run is unchanged)") from None
        info = Path(artifacts) / LOCK_HOLDER
        try:
            info.write_text(json.dumps({"pid": os.getpid(), "command": _command_line(), "host": platform.node(),
                                        "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}),
                            encoding="utf-8")
            yield
        finally:
            info.unlink(missing_ok=True)
            lock.release()

    return _held()


def _command_line() -> str:
    """This process's command line, shortened (``python -m core train --data T``)."""

    args = [Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"] + sys.argv[1:]
    if args[0] == "__main__.py":
        args[0] = "python -m core"
    return " ".join(args)[:160]


def training_lock_holder(artifacts: Path, locked: bool | None = None) -> str | None:
    """Who holds the runs folder's training lock, in one phrase ("pid 1234 on host h,
    python -m core train, since 2026-12-06T10:02:11+00:00"), or None when no training holds
    it. ``locked`` True skips checking the lock (the caller just failed to take it)."""

    artifacts = Path(artifacts)
    if locked is None:
        if not (artifacts / TRAINING_LOCK).exists():
            return None
        probe = filelock.FileLock(str(artifacts / TRAINING_LOCK))
        try:
            probe.acquire(timeout=0)
        except filelock.Timeout:
            locked = True
        else:
            probe.release()
            return None
    try:
        h = json.loads((artifacts / LOCK_HOLDER).read_text(encoding="utf-8"))
        return f"pid {h['pid']} on host {h['host']}, {h['command']}, since {h['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not said who it is yet"
