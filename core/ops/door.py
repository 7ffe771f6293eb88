"""Progressive delays after wrong passwords (the Admin page's door).

After ``free`` wrong tries in a row, each further try must wait ``base_s`` seconds, doubling
with every wrong one, up to ``max_s``: guessing gets slower and slower, while a person who
mistypes twice waits for nothing. A right password clears the count. The delay is kept per
key, and the page keys it twice: by its browser session and by the client's address, so
neither a new session nor a new address alone escapes it. This is the "progressive delay"
of OWASP's Authentication Cheat Sheet ("Protect Against Automated Attacks"): it slows
guessing without locking the real admin out for good.
"""
from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path


@dataclass
class Backoff:
    """Wrong tries per key and the wait they impose (thread-safe: the app's sessions share
    one instance).

    Parameters
    ----------
    free : int, wrong tries in a row that cost no wait (default 3).
    base_s : float, the wait after the first try beyond ``free`` (seconds, default 2).
    max_s : float, the longest wait (seconds, default 300).
    """

    free: int = 3
    base_s: float = 2.0
    max_s: float = 300.0
    _fails: dict = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def wait_s(self, keys, now: float) -> float:
        """Seconds still to wait before the next try is taken from any of ``keys`` (0: go)."""
        with self._lock:
            return max([0.0] + [self._fails[k][1] - now for k in keys if k in self._fails])

    def failures(self, key) -> int:
        """Wrong tries in a row from ``key``."""
        with self._lock:
            return self._fails.get(key, (0, 0.0))[0]

    def fail(self, keys, now: float) -> float:
        """Count a wrong try from each of ``keys`` at time ``now`` (seconds); returns the wait
        it imposes before the next try (the longest over the keys)."""
        waits = []
        with self._lock:
            for k in keys:
                n = self._fails.get(k, (0, 0.0))[0] + 1
                wait = 0.0 if n <= self.free else min(self.max_s, self.base_s * 2 ** (n - self.free - 1))
                self._fails[k] = (n, now + wait)
                waits.append(wait)
        return max(waits, default=0.0)

    def succeed(self, keys) -> None:
        """A right password: the count of each of ``keys`` starts again."""
        with self._lock:
            for k in keys:
                self._fails.pop(k, None)


def log_wrong_password(artifacts: Path, address: str, failures: int, wait_s: float) -> None:
    """Record a wrong admin password: a warning in the log (``shopsphere.admin``) and a line
    of ``<artifacts>/monitoring/admin_door.jsonl`` (time, client address, wrong tries in a
    row, the wait imposed in seconds). A file that cannot be written costs only its line."""
    logging.getLogger("shopsphere.admin").warning("wrong admin password from %s (%d in a row); next try in %.0f s",
                                                  address, failures, wait_s)
    try:
        f = Path(artifacts) / "monitoring" / "admin_door.jsonl"
        f.parent.mkdir(parents=True, exist_ok=True)
        with f.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "address": address,
                                 "failures_in_a_row": failures, "wait_s": wait_s}) + "\n")
    except OSError:
        pass
