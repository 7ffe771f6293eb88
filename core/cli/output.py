"""What every command prints the same way: progress lines, and where results went in the
activation database."""
from __future__ import annotations

import sys


def progress(fraction: float, message: str) -> None:
    """A progress line, ``[ 12.0%] message``, on standard output."""
    print(f"[{100 * fraction:5.1f}%] {message}", flush=True)


def print_database(result) -> None:
    """Say where a result's rows went in the activation database (``result.database``), or
    why they could not be written (``result.database_error``, on standard error)."""
    if result.database:
        print(result.database)
    if result.database_error:
        print(f"warning: {result.database_error}", file=sys.stderr)
