"""Commands ``runs``, ``promote``, ``rollback``, ``report`` and ``jobs``: each calls its use
case (:mod:`core.actions`) and prints what it returns."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from core import report as stakeholder_report
from core.actions import jobs, runs, views
from core.errors import DataError
from core.runs import store


def history(args, settings) -> int:
    """``runs``: every run with its figures, newest first."""
    table = views.run_history(settings)
    if table.empty:
        print(f"no runs in {settings.artifacts_dir}")
        return 0
    print(table.to_string(index=False, na_rep="-", float_format=lambda v: f"{v:.3f}"))
    return 0


def promote(args, settings) -> int:
    """``promote``: make a run its data set's current run (``--default``: and the default
    one); the activation database follows the default (a warning when it cannot)."""
    change = runs.promote(settings, args.run_id, make_default=args.default)
    where = "the default data set's" if change.default else f"data set '{change.dataset}''s (not the default)"
    print(f"run {change.current} is now {where} current run (was {change.previous or 'none'})")
    _said(change)
    return 0


def rollback(args, settings) -> int:
    """``rollback``: return to the previous champion."""
    change = runs.rollback(settings, args.dataset)
    print(f"rolled back: run {change.current} is now the current run of data set '{change.dataset}'")
    _said(change)
    return 0


def _said(change) -> None:
    if change.database:
        print(f"activation database {change.database}")
    if change.database_error:
        print(f"warning: {change.database_error}", file=sys.stderr)


def report(args, settings) -> int:
    """``report``: the stakeholder report of a run, as self-contained HTML or Markdown."""
    out = Path(args.out)
    if out.suffix.lower() not in (".html", ".htm", ".md"):
        raise DataError(f"{out}: the report must end in .html or .md")
    if out.is_dir():
        raise DataError(f"{out}: is a folder, expected a file name")
    run = store.load_run(settings.artifacts_dir, args.run)
    render = stakeholder_report.render_markdown if out.suffix.lower() == ".md" else stakeholder_report.render_html
    text = render(run)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out)
    print(f"wrote the report of run {run.run_id} to {out} ({_size(out.stat().st_size)})")
    return 0


def job(args, settings) -> int:
    """``jobs [list] | cancel ID | run ID``: the background jobs the app started."""
    if args.jobs_command == "run":
        return jobs.run(settings.artifacts_dir, args.job_id)
    if args.jobs_command == "cancel":
        j = jobs.cancel_job(settings, args.job_id)
        print(f"asked job {j.job_id} ({j.label}) to stop")
        return 0
    rows = jobs.list_jobs(settings)
    if not rows:
        print(f"no jobs in {settings.artifacts_dir / 'jobs'}")
    for j in rows:
        what = {"done": j.outcome or j.run_id or "", "failed": j.error or "", "running": f"{j.fraction:.0%} {j.step}"}
        print(f"{j.job_id}  {j.status:<11} {j.label}  {what.get(j.status, '')}".rstrip())
    return 0


def _size(n: int) -> str:
    """A file size for people: kB below 1 MB, else MB."""
    return f"{n / 1e3:,.0f} kB" if n < 1e6 else f"{n / 1e6:,.1f} MB"


COMMANDS = {"runs": history, "promote": promote, "rollback": rollback, "report": report, "jobs": job}
