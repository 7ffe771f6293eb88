"""Command line: ``python -m core generate|train|retrain|check|score|value|spec draft|runs|jobs|promote|rollback|drift|
backtest|cohort|readout|report`` (the arguments: :mod:`core.cli.parser`).

Each command calls its use case (:mod:`core.actions`) and prints what it returns. Bad input
(a :class:`~core.errors.DataError`) prints one line ``error: ...`` to stderr and exits with
code 2; the current run is never changed by a failed command.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

from core.cli.parser import DEFAULT_SETTINGS, parser
from core.errors import DataError
from core.settings import load_settings


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 2 bad input, 130 interrupted)."""
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # --help (0), or a mistake the parser said in one line (2)
        return int(exc.code or 0)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings_path = args.settings or (DEFAULT_SETTINGS if DEFAULT_SETTINGS.is_file() else None)
        settings = load_settings(settings_path, seed=args.seed, artifacts_dir=args.artifacts)
        log_warnings(settings.artifacts_dir)
        if getattr(args, "dataset", None) and hasattr(args, "run"):
            args.run = _dataset_run(settings.artifacts_dir, args.dataset)
        return _command(args.command)(args, settings)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; the current run is unchanged", file=sys.stderr)
        return 130


def log_warnings(artifacts) -> None:
    """Send Python warnings (numpy, scikit-learn, umap-learn...) to ``<artifacts>/logs/warnings.log``
    instead of the terminal (``logging.captureWarnings``): the product says in its own
    one-line notes what matters to the user; the rest is kept there for whoever looks into a
    run (the folder made at the first one). A folder that cannot be written drops them."""
    logging.captureWarnings(False)  # from a clean state: an earlier capture may have been undone around it
    logging.captureWarnings(True)
    logger = logging.getLogger("py.warnings")
    logger.propagate = False
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()
    logger.addHandler(_FolderMadeFileHandler(Path(artifacts) / "logs" / "warnings.log", delay=True, encoding="utf-8"))


class _FolderMadeFileHandler(logging.FileHandler):
    """A file handler that makes its folder when the first record comes (nothing is written
    by a command that warns of nothing), and drops records when it cannot write."""

    def _open(self):
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()

    def handleError(self, record) -> None:  # a folder that cannot be written: the warning is dropped
        pass


def _dataset_run(artifacts, dataset: str) -> str:
    """The current run of ``dataset``; DataError naming the data sets there are."""
    from core.runs import store

    rid = store.current_run_id(artifacts, dataset)
    if rid is None:
        known = ", ".join(store.current_runs(artifacts)) or "none"
        raise DataError(f"--dataset {dataset}: no run of that data set in {artifacts} (data sets: {known})")
    return rid


def _command(name: str):
    """The function of the command ``name``. Its module is imported here, when the command
    runs, for start-up speed: ``python -m core jobs`` need not load the models."""
    if name in ("generate", "train", "retrain", "spec", "check"):
        from core.cli import training as commands
    elif name in ("score", "value", "drift", "backtest"):
        from core.cli import scoring as commands
    elif name in ("cohort", "readout"):
        from core.cli import campaigns as commands
    else:
        from core.cli import runs as commands
    return commands.COMMANDS[name]
