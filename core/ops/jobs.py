"""Background jobs: long work started from the app runs in a process of its own.

A page that trained inside its own script lost the training as soon as the browser left
the page (Streamlit stops a session's script when it reruns or goes away). A job instead
is a process started by :func:`start` as ``python -m core --artifacts A jobs run ID`` in a
new session (``subprocess.Popen(start_new_session=True)``: its own process group, so
neither a rerun, nor closing the browser, nor stopping or restarting the Streamlit server
stops it), calling the functions the CLI calls (:func:`core.pipeline.champion.train_or_retrain`,
:class:`core.pipeline.scoring.ScoringModel`). Its folder ``<artifacts>/jobs/<job id>/`` holds:

    job.json       the request and its state (:class:`Job`), rewritten atomically by the
                   job's process alone
    settings.json  the settings it runs with (the app's when it was started)
    log.txt        what the process printed: progress, warnings, a traceback on an error
                   that is not bad input
    cancel         present once a cancel was asked (written by :func:`cancel`, never by the
                   job), so the two writers never race on ``job.json``
    scored.*       a scoring job's result (Parquet and a CSV safe for spreadsheets)

States: ``queued`` (the process is starting) -> ``running`` (with the step and its
fraction) -> ``done`` (the run id, or the scored file) | ``failed`` (one line) |
``cancelled``. A job whose process is gone without having said how it ended (the machine
restarted, ``kill -9``) is marked ``interrupted`` by :func:`refresh`, which compares the
process id and its start time (psutil) with those the job recorded, so a reused process id
is not taken for the job. Nothing is lost either way: training writes a run only when it
is complete (:func:`core.runs.store.save_run`), so a job that ends early leaves the current
run as it was.

One training at a time per runs folder: :func:`start` refuses a training while another
training job is queued or running, or while a training holds the runs folder's lock
(:func:`core.runs.lock.training_lock`, from the CLI say), naming who and since when.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Literal

import psutil

from core.errors import DataError
from core.runs import lock
from core.runs import results as R
from core.settings import Settings, settings_from_dict

JOBS = "jobs"
KINDS = ("train", "score")
ACTIVE = ("queued", "running")
#: Seconds a job may take to stop after a cancel before its process group is killed.
CANCEL_GRACE_S = 20.0


#: What carries out a job of one kind: ``handler(job, settings, folder, progress)`` returns
#: the fields of :class:`Job` it sets when done (``run_id``, ``outcome``, ``output``, ``notes``).
Handler = Callable[["Job", Settings, Path, Callable[[float, str], None]], dict]


class JobCancelled(BaseException):
    """Raised in a job's process when it is asked to stop (SIGTERM); a BaseException, so
    that no ``except Exception`` on the way swallows it."""


class Job(R.Record):
    """One job's request and state (``job.json``).

    ``kind``: ``train`` (``params``: ``data``, ``spec``, ``log``, ``sheet``) or ``score``
    (``params``: ``data``, ``name`` as the person knows the file, ``run_id``, and
    ``remove_input``: delete ``data`` once scored). ``fraction`` is in 0..1;
    times are ISO 8601 UTC; ``pid_started`` is the process's start time (seconds since
    the epoch, psutil's ``create_time``). ``remove_on_failure``: files the job removes when
    it does not finish (an upload that was only kept to be trained on)."""

    job_id: str
    kind: Literal["train", "score"]
    label: str
    params: dict[str, Any]
    requested_by: str
    status: Literal["queued", "running", "done", "failed", "cancelled", "interrupted"]
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    pid: int | None = None
    pid_started: float | None = None
    step: str = ""
    fraction: float = 0.0
    run_id: str | None = None
    outcome: str | None = None
    output: str | None = None
    notes: list[str] = []
    error: str | None = None
    remove_on_failure: list[str] = []

    @property
    def active(self) -> bool:
        """Queued or running."""
        return self.status in ACTIVE


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def jobs_dir(artifacts: Path) -> Path:
    """``artifacts/jobs``."""
    return Path(artifacts) / JOBS


#: A job id, as :func:`start` makes them: UTC time, the kind, 6 hex digits.
JOB_ID = re.compile(r"\d{8}-\d{6}-[a-z]+-[0-9a-f]{6}")


def _folder(artifacts: Path, job_id: str) -> Path:
    if not job_id or not JOB_ID.fullmatch(str(job_id)):
        raise DataError(f"'{job_id}' is not a job id (e.g. 20261206-101500-train-a1b2c3; see `python -m core jobs`)")
    folder = jobs_dir(artifacts) / job_id
    if not (folder / "job.json").is_file():
        raise DataError(f"no job '{job_id}' in {jobs_dir(artifacts)}")
    return folder


def _write(folder: Path, job: Job) -> None:
    """Rewrite ``job.json`` atomically (a temporary file of this process and thread, then
    ``os.replace``: the job's process and any session's :func:`refresh` may write at once)."""
    tmp = folder / f"job.json.{os.getpid()}-{threading.get_ident()}.tmp"
    tmp.write_text(json.dumps(job.to_json(), indent=2), encoding="utf-8")
    os.replace(tmp, folder / "job.json")


def read(artifacts: Path, job_id: str) -> Job:
    """The job ``job_id`` as last written, :func:`refresh`-ed. Raises DataError for an
    unknown id or a damaged ``job.json``."""
    return refresh(artifacts, Job.from_json(_folder(artifacts, job_id) / "job.json"))


def _pid(artifacts: Path, job: Job) -> tuple[int | None, float | None]:
    """The job's process id and start time: as the job wrote them, else as :func:`start`
    recorded them in the ``pid`` file (before the process wrote anything)."""
    if job.pid is not None:
        return job.pid, job.pid_started
    try:
        pid, started = (jobs_dir(artifacts) / job.job_id / "pid").read_text(encoding="utf-8").split()
        return int(pid), float(started)
    except (OSError, ValueError):
        return None, None


def _process_matches(artifacts: Path, job: Job):
    """The job's process (psutil), or None when it is gone, a zombie, or another process
    that reuses its id."""

    pid, started = _pid(artifacts, job)
    if pid is None:
        return None
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        if started is not None and abs(proc.create_time() - started) > 1.0:
            return None
        return proc
    except psutil.Error:
        return None


def refresh(artifacts: Path, job: Job) -> Job:
    """``job`` with what its process can no longer say: a queued or running job whose
    process is gone becomes ``interrupted`` (``cancelled`` when a cancel was asked); a job
    still running :data:`CANCEL_GRACE_S` seconds after a cancel has its process group
    killed and becomes ``cancelled``. Written back when it changes."""
    if not job.active:
        return job
    folder = jobs_dir(artifacts) / job.job_id
    cancel_file = folder / "cancel"
    proc = _process_matches(artifacts, job)
    if proc is not None and cancel_file.is_file() and time.time() - cancel_file.stat().st_mtime > CANCEL_GRACE_S:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc = None
    if proc is not None:
        return job
    if job.status == "queued" and _pid(artifacts, job)[0] is None:
        return job  # being started right now
    try:  # the process may have written its end (done, failed) since ``job`` was read, then exited
        latest = Job.from_json(folder / "job.json")
    except (OSError, ValueError):
        latest = job
    if not latest.active:
        return latest
    _stop_leftovers(artifacts, job)
    cancelled = cancel_file.is_file()
    job = job.model_copy(update={
        "status": "cancelled" if cancelled else "interrupted", "finished_at": _now(),
        "error": None if cancelled else "the job's process ended without saying how (killed, or the machine "
                                        "restarted); its log may say more: start it again"})
    _remove_uploads(job)
    _write(folder, job)
    return job


def _stop_leftovers(artifacts: Path, job: Job) -> None:
    """Kill what is left of a job whose process is gone (killed with ``kill -9``, say):
    its worker processes, which stay in its process group (the job started the group, so
    its id is the job's process id) and would otherwise run their call to the end. Only
    processes started after the job are touched."""

    pid, started = _pid(artifacts, job)
    if pid is None:
        return
    for proc in psutil.process_iter(["pid", "create_time"]):
        try:
            if os.getpgid(proc.info["pid"]) == pid and proc.info["create_time"] >= (started or 0) - 1:
                proc.kill()
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue


def list_jobs(artifacts: Path, limit: int | None = None) -> list[Job]:
    """Every job of the runs folder, newest first (at most ``limit``), each :func:`refresh`-ed;
    a folder whose ``job.json`` cannot be read is skipped."""
    d = jobs_dir(artifacts)
    if not d.is_dir():
        return []
    out = []
    for folder in sorted((p for p in d.iterdir() if (p / "job.json").is_file()), reverse=True):
        try:
            out.append(refresh(artifacts, Job.from_json(folder / "job.json")))
        except DataError:
            continue
        if limit is not None and len(out) >= limit:
            break
    return out


def active_training(artifacts: Path) -> Job | None:
    """The training job queued or running in this runs folder, if any."""
    return next((j for j in list_jobs(artifacts) if j.kind == "train" and j.active), None)


#: Finished jobs kept (with their logs and outputs); older ones are deleted when a job starts.
KEEP_JOBS = 50


def prune(artifacts: Path, keep: int = KEEP_JOBS) -> list[str]:
    """Delete all but the newest ``keep`` finished jobs (never a queued or running one);
    returns the deleted ids."""

    ended = [j for j in list_jobs(artifacts) if not j.active]
    doomed = [j.job_id for j in ended[keep:]]
    for job_id in doomed:
        shutil.rmtree(jobs_dir(artifacts) / job_id, ignore_errors=True)
    return doomed


def log_text(artifacts: Path, job_id: str, tail: int = 200) -> str:
    """The last ``tail`` lines the job's process printed ('' before it printed any)."""
    f = _folder(artifacts, job_id) / "log.txt"
    if not f.is_file():
        return ""
    return "\n".join(f.read_text(encoding="utf-8", errors="replace").splitlines()[-tail:])


def _refuse_second_training(artifacts: Path) -> None:

    job = active_training(artifacts)
    if job is not None:
        raise DataError(f"a training is already running in {artifacts}: job {job.job_id} ({job.label}), started by "
                        f"{job.requested_by} at {job.created_at}, {job.status}"
                        + (f" ({job.step})" if job.step else "") + "; wait for it or cancel it on the Admin page")
    holder = lock.training_lock_holder(artifacts)
    if holder is not None:
        raise DataError(f"a training is already running in {artifacts}: {holder}; wait for it to finish")


def start(artifacts: Path, kind: str, params: dict, label: str, settings: Settings, requested_by: str,
          remove_on_failure: list[str] | None = None) -> Job:
    """Start a job in a process of its own and return it (``queued``; its process sets
    ``running``).

    Parameters
    ----------
    kind : ``train`` or ``score`` (see :class:`Job` for ``params``).
    label : what the job does, for people ("train on the default table").
    settings : what the job runs with (kept in its folder).
    requested_by : who asked ("the app, client 10.0.0.7"), shown with the job.

    Raises
    ------
    DataError
        An unknown kind, or (a training) another training is running in the runs folder
        (named, with who started it and when).
    """
    if kind not in KINDS:
        raise DataError(f"unknown job kind '{kind}' (expected one of {', '.join(KINDS)})")
    artifacts = Path(artifacts)
    if kind == "train":
        _refuse_second_training(artifacts)
    prune(artifacts)
    job_id = f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{kind}-{secrets.token_hex(3)}"
    folder = jobs_dir(artifacts) / job_id
    folder.mkdir(parents=True)
    settings = settings.replace(artifacts_dir=artifacts.resolve())
    (folder / "settings.json").write_text(json.dumps(settings.to_dict(), indent=2), encoding="utf-8")
    job = Job(job_id=job_id, kind=kind, label=label, params=params, requested_by=requested_by, status="queued",
              created_at=_now(), remove_on_failure=list(remove_on_failure or []))
    _write(folder, job)

    with open(folder / "log.txt", "ab") as log:
        # run where the caller runs (relative paths in ``params`` mean the same), with the
        # interpreter of this process, whose environment has this project's ``core`` installed
        proc = subprocess.Popen([sys.executable, "-m", "core", "--artifacts", str(artifacts.resolve()), "jobs",
                                 "run", job_id], cwd=os.getcwd(), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        started = psutil.Process(proc.pid).create_time()
    except psutil.Error:  # already gone: refresh() marks it interrupted
        started = 0.0
    (folder / "pid").write_text(f"{proc.pid} {started}", encoding="utf-8")
    return job


def cancel(artifacts: Path, job_id: str) -> Job:
    """Ask a queued or running job to stop: its process group gets SIGTERM (the job's
    process then stops its workers, writes nothing more of a run, and ends ``cancelled``);
    if it has not ended :data:`CANCEL_GRACE_S` seconds later, :func:`refresh` kills it.
    Returns the job. Raises DataError for an unknown job or one that has ended."""
    folder = _folder(artifacts, job_id)
    job = read(artifacts, job_id)
    if not job.active:
        raise DataError(f"job {job_id} has ended ({job.status}): nothing to cancel")
    (folder / "cancel").write_text(_now(), encoding="utf-8")
    proc = _process_matches(artifacts, job)
    if proc is not None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except OSError:
            pass
    return job


def _remove_uploads(job: Job) -> None:
    """Delete the job's ``remove_on_failure`` files (what its starter listed)."""
    for p in job.remove_on_failure:
        Path(p).unlink(missing_ok=True)


def execute(artifacts: Path, job_id: str, handlers: dict[str, Handler]) -> int:
    """Carry out the job ``job_id`` in this process (what ``python -m core jobs run ID``
    does in the process :func:`start` made): its kind's handler of ``handlers``
    (:data:`Handler`: the use cases, :mod:`core.actions.jobs`) runs with the job's settings
    and a progress callback; the state is ``running`` with each progress step, then
    ``done`` (with what the handler returned), ``failed`` (bad input: the one-line error;
    anything else: its type and message, the traceback in the log) or ``cancelled``
    (SIGTERM). Returns the exit code: 0 done, 2 failed, 130 cancelled."""

    artifacts = Path(artifacts)
    folder = _folder(artifacts, job_id)
    job = Job.from_json(folder / "job.json")
    settings = settings_from_dict(json.loads((folder / "settings.json").read_text(encoding="utf-8")),
                                  f"{folder / 'settings.json'}")
    me = psutil.Process()
    job = job.model_copy(update={"status": "running", "started_at": _now(), "pid": me.pid,
                                 "pid_started": me.create_time(), "step": "starting"})
    _write(folder, job)

    def stop(signum, frame):
        raise JobCancelled()

    signal.signal(signal.SIGTERM, stop)
    last = [0.0]

    def progress(fraction: float, message: str) -> None:
        nonlocal job
        if (folder / "cancel").is_file():  # the signal may have been lost (taken by a worker, a
            raise JobCancelled()            # library's handler): each step also reads the flag
        print(f"[{100 * fraction:5.1f}%] {message}", flush=True)
        now = time.monotonic()
        if message != job.step and now - last[0] >= 0.5 or fraction >= 1.0:
            last[0] = now
            job = job.model_copy(update={"step": message, "fraction": min(max(float(fraction), 0.0), 1.0)})
            _write(folder, job)

    try:
        if (folder / "cancel").is_file():
            raise JobCancelled()
        done = handlers[job.kind](job, settings, folder, progress)
        job = job.model_copy(update={**done, "status": "done", "finished_at": _now(), "fraction": 1.0})
        code = 0
    except JobCancelled:
        job = job.model_copy(update={"status": "cancelled", "finished_at": _now()})
        code = 130
    except DataError as exc:
        job = job.model_copy(update={"status": "failed", "finished_at": _now(), "error": str(exc)})
        code = 2
    except Exception as exc:  # not bad input: a fault of ours; the whole traceback goes to the log
        traceback.print_exc()
        if (folder / "cancel").is_file():  # a worker killed by the cancel's signal
            job = job.model_copy(update={"status": "cancelled", "finished_at": _now()})
            code = 130
        else:
            line = str(exc).splitlines()[0][:300] if str(exc) else ""
            job = job.model_copy(update={"status": "failed", "finished_at": _now(),
                                         "error": f"internal error ({type(exc).__name__}{': ' + line if line else ''}); "
                                                  "the job's log has the details"})
            code = 1
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if job.status != "done":
        _remove_uploads(job)
    _write(folder, job)
    print(f"job {job_id}: {job.status}" + (f": {job.error}" if job.error else ""), flush=True)
    return code
