"""``python -m core``: see :mod:`core.cli`."""
import os
import sys

from core.cli import main

try:
    code = main()
    sys.stdout.flush()
except BrokenPipeError:
    # the reader went away (``python -m core runs | head``): stop quietly, as the Python
    # docs advise (library/signal.html, "Note on SIGPIPE"): point stdout at devnull so the
    # flush at exit raises nothing
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    code = 1
sys.exit(code)
