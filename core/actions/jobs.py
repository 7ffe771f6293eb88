"""Use cases as background jobs: start a training or a scoring in a process of its own
(:mod:`core.ops.jobs`), and carry one out in that process (``python -m core jobs run ID``)
with the same use cases the CLI calls (:func:`core.actions.training.train`,
:func:`core.actions.scoring.score_file`).
"""
from __future__ import annotations

from pathlib import Path

from core.actions import scoring, training
from core.errors import DataError
from core.ops import jobs
from core.ops.jobs import Job
from core.settings import Settings


def start_training(settings: Settings, data: str | Path | None, spec: str | Path | None, label: str,
                   requested_by: str, log: bool = False, remove_on_failure: list[str] | None = None) -> Job:
    """Start a training job (:func:`core.actions.training.train` in its own process: a
    challenger when a run of the same data set is current, else the new current run) on
    ``data`` (None: the default table) with ``spec``; ``remove_on_failure``: files the job
    removes when it does not finish (an upload kept only to be trained on).

    Raises DataError for a data file that is not on the server, or while another training
    runs in the runs folder (naming it)."""
    if data and not Path(data).is_file() and not (log and Path(data).is_dir()):
        raise DataError(f"{data}: no such file on the server")
    params = {"data": str(Path(data).resolve()) if data else None, "spec": str(Path(spec).resolve()) if spec else None,
              "log": log}
    return jobs.start(settings.artifacts_dir, "train", params, f"train on {label}", settings, requested_by,
                      remove_on_failure)


def start_scoring(settings: Settings, data: str | Path, name: str, run_id: str, requested_by: str,
                  remove_input: bool = True) -> Job:
    """Start a scoring job (:func:`core.actions.scoring.score_file` in its own process) of the
    file ``data`` (known to the person as ``name``) with the run ``run_id``; with
    ``remove_input`` the file is deleted once scored (an upload kept only to be scored), or
    when the job does not finish. Raises DataError as :func:`core.ops.jobs.start`."""
    return jobs.start(settings.artifacts_dir, "score", {"data": str(data), "name": name, "run_id": run_id,
                                                         "remove_input": remove_input},
                      f"score {name}", settings, requested_by, remove_on_failure=[str(data)] if remove_input else [])


def run(artifacts: Path, job_id: str) -> int:
    """Carry out the job ``job_id`` in this process (:func:`core.ops.jobs.execute` with this
    module's handlers); returns the exit code (0 done, 2 failed, 130 cancelled)."""
    return jobs.execute(artifacts, job_id, {"train": _train, "score": _score})


def _train(job: Job, settings: Settings, folder: Path, progress) -> dict:
    p = job.params
    result = training.train(p.get("data"), p.get("spec"), settings, progress=progress, log=bool(p.get("log")),
                            sheet=p.get("sheet"))
    notes = list(result.notes)  # what cleaning the data needed (guest lines of a log, ...)
    notes += [result.database] if result.database else []
    notes += [f"warning: {result.database_error}"] if result.database_error else []
    for line in notes:
        print(line, flush=True)
    return {"run_id": result.run_id, "outcome": result.outcome, "notes": notes}


def _score(job: Job, settings: Settings, folder: Path, progress) -> dict:
    p = job.params
    result = scoring.score_file(settings, p["data"], run_id=p.get("run_id"), out=folder / "scored.parquet",
                                csv=folder / "scored.csv", name=p.get("name") or Path(p["data"]).name,
                                progress=progress)
    if p.get("remove_input"):  # an upload kept only to be scored
        Path(p["data"]).unlink(missing_ok=True)
    notes = list(result.notes)
    notes += [result.database] if result.database else []
    notes += [f"warning: {result.database_error}"] if result.database_error else []
    return {"run_id": result.run_id, "output": str(result.csv), "notes": notes,
            "outcome": f"scored {result.rows:,} customers with run {result.run_id}"}


def list_jobs(settings: Settings, limit: int | None = None) -> list[Job]:
    """The runs folder's jobs, newest first (:func:`core.ops.jobs.list_jobs`)."""
    return jobs.list_jobs(settings.artifacts_dir, limit)


def read_job(settings: Settings, job_id: str) -> Job:
    """One job as last written (:func:`core.ops.jobs.read`). Raises DataError for an unknown id."""
    return jobs.read(settings.artifacts_dir, job_id)


def cancel_job(settings: Settings, job_id: str) -> Job:
    """Ask a queued or running job to stop (:func:`core.ops.jobs.cancel`). Raises DataError for
    an unknown job or one that has ended."""
    return jobs.cancel(settings.artifacts_dir, job_id)


def job_log(settings: Settings, job_id: str, tail: int = 200) -> str:
    """The last ``tail`` lines the job's process printed (:func:`core.ops.jobs.log_text`)."""
    return jobs.log_text(settings.artifacts_dir, job_id, tail)
