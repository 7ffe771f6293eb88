"""The command line, ``python -m core ...``: see :mod:`core.cli.main`."""
from core.cli.main import main

__all__ = ["main"]
