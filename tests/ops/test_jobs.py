"""Background jobs (issue 17, item 1): a job runs in a process of its own, outlives whoever
started it, reports its state, can be cancelled, is marked interrupted when its process is
killed, and a second training in the same runs folder is refused naming the first."""
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from core.errors import DataError
from core.ops import jobs
from core.runs import lock, store
from tests.support import REPO, small_settings

pytestmark = pytest.mark.slow   # every test here trains or scores in a job process


def _wait(art, job_id, until, timeout=240.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = jobs.read(art, job_id)
        if until(job):
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} still {job.status} ({job.step}) after {timeout} s; log:\n"
                         + jobs.log_text(art, job_id))


def _group_alive(pid: int, wait: float = 15.0) -> bool:
    """Whether a process of the group ``pid`` (a job's process and its workers) still runs
    after ``wait`` seconds (zombies, ended but not yet reaped, do not count)."""
    import psutil

    deadline = time.monotonic() + wait
    while True:
        alive = []
        for p in psutil.process_iter(["pid", "status"]):
            try:
                if os.getpgid(p.info["pid"]) == pid and p.info["status"] != psutil.STATUS_ZOMBIE:
                    alive.append(p.info["pid"])
            except (ProcessLookupError, PermissionError):
                continue
        if not alive or time.monotonic() > deadline:
            return bool(alive)
        time.sleep(0.2)


def test_a_training_job_outlives_the_process_that_started_it(tmp_path, small_csv):
    art = tmp_path / "artifacts"
    starter = ("import sys; from pathlib import Path; from core.ops import jobs; from tests.support import small_settings;"
               f"a = Path({str(art)!r}); j = jobs.start(a, 'train', {{'data': {str(small_csv)!r}}}, 'train on shop.csv',"
               " small_settings(a), 'a test'); print(j.job_id)")
    out = subprocess.run([sys.executable, "-c", starter], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    job_id = out.stdout.strip()            # the starter has exited; the job goes on
    running = _wait(art, job_id, lambda j: j.status == "running" and j.fraction > 0)
    assert running.step and running.pid is not None
    done = _wait(art, job_id, lambda j: not j.active)
    assert done.status == "done", done.error
    assert done.run_id == store.current_run_id(art) and done.outcome == "trained and made current"
    assert done.fraction == 1.0 and done.finished_at >= done.started_at
    assert "saved and made current" in jobs.log_text(art, job_id)
    assert not _group_alive(done.pid)      # the job's workers are gone too


def test_a_second_training_is_refused_naming_the_first_and_a_cancel_leaves_the_current_run(trained, tmp_path,
                                                                                           small_csv):
    import shutil

    src, run = trained
    art = tmp_path / "artifacts"
    shutil.copytree(src, art)
    before = store.current_run_id(art)
    first = jobs.start(art, "train", {"data": str(small_csv)}, "train on shop.csv", small_settings(art), "client A")
    with pytest.raises(DataError, match=rf"a training is already running .*job {first.job_id} \(train on shop\.csv\), "
                                        r"started by client A at"):
        jobs.start(art, "train", {"data": str(small_csv)}, "another", small_settings(art), "client B")
    job = _wait(art, first.job_id, lambda j: j.status == "running" and "segmentation" in j.step)
    jobs.cancel(art, first.job_id)
    ended = _wait(art, first.job_id, lambda j: not j.active, timeout=60)
    assert ended.status == "cancelled" and ended.error is None
    assert store.current_run_id(art) == before and store.list_runs(art) == [before]
    assert not list(store.runs_dir(art).glob(".tmp-*"))      # no half-written run
    assert not _group_alive(job.pid)                            # its workers are stopped with it
    with pytest.raises(DataError, match="has ended"):
        jobs.cancel(art, first.job_id)
    # the lock is free again: the next training starts
    nxt = jobs.start(art, "train", {"data": str(small_csv)}, "again", small_settings(art), "client B")
    jobs.cancel(art, nxt.job_id)
    _wait(art, nxt.job_id, lambda j: not j.active, timeout=60)


def test_a_job_whose_process_is_killed_is_marked_interrupted_and_its_workers_stopped(tmp_path, small_csv):
    art = tmp_path / "artifacts"
    job = jobs.start(art, "train", {"data": str(small_csv)}, "train", small_settings(art), "a test")
    job = _wait(art, job.job_id, lambda j: j.status == "running" and "segmentation" in j.step)
    os.killpg(job.pid, signal.SIGSTOP)     # hold the group, so its workers are there when the main process dies
    os.kill(job.pid, signal.SIGKILL)       # kill -9 of the job's process alone, as an OOM killer would
    os.killpg(job.pid, signal.SIGCONT)
    ended = _wait(art, job.job_id, lambda j: not j.active, timeout=30)
    assert ended.status == "interrupted" and "ended without saying how" in ended.error
    assert not _group_alive(job.pid)       # its workers, left behind, were stopped
    assert store.current_run_id(art) is None


def test_a_training_on_bad_input_fails_in_one_line(tmp_path, small_table):
    art = tmp_path / "artifacts"
    bad = tmp_path / "bad.csv"
    small_table.drop(columns=["orders_90d"]).to_csv(bad, index=False)
    job = jobs.start(art, "train", {"data": str(bad)}, "train on bad.csv", small_settings(art), "a test",
                     remove_on_failure=[str(bad)])
    ended = _wait(art, job.job_id, lambda j: not j.active)
    assert ended.status == "failed" and "orders_90d" in ended.error and "\n" not in ended.error
    assert "Traceback" not in jobs.log_text(art, job.job_id)   # bad input is not a fault of ours
    assert not bad.exists()                                     # an upload that did not train is not kept


def test_a_scoring_job_writes_the_scored_table(trained, tmp_path, small_table):
    import shutil

    src, run = trained
    art = tmp_path / "artifacts"
    shutil.copytree(src, art)
    data = tmp_path / "upload.csv"
    small_table.drop(columns=["purchased_next_30d"]).head(500).to_csv(data, index=False)
    job = jobs.start(art, "score", {"data": str(data), "name": "customers.csv", "run_id": run.run_id,
                                    "remove_input": True}, "score customers.csv", small_settings(art), "a test")
    done = _wait(art, job.job_id, lambda j: not j.active)
    assert done.status == "done", done.error
    got = pd.read_csv(done.output, dtype={"customer_id": str})
    assert len(got) == 500 and got["customer_id"].tolist() == small_table["customer_id"].head(500).astype(str).tolist()
    want = run.table("scored").set_index("customer_id").loc[got["customer_id"], "propensity"].to_numpy()
    assert abs(got["propensity"].to_numpy() - want).max() < 1e-9   # the same customers, the same scores
    assert not data.exists()


def test_the_training_lock_names_its_holder(tmp_path, small_csv):
    art = tmp_path / "artifacts"
    with lock.training_lock(art):
        assert f"pid {os.getpid()}" in lock.training_lock_holder(art)
        with pytest.raises(DataError, match=rf"a training is already running .*pid {os.getpid()} on host .* since "):
            jobs.start(art, "train", {"data": str(small_csv)}, "train", small_settings(art), "a test")
        with pytest.raises(DataError, match=rf"another training is running .*\(pid {os.getpid()}"):
            with lock.training_lock(art):
                pass
    assert lock.training_lock_holder(art) is None


@pytest.mark.parametrize("on_disk, shown", [("done", "done"), ("running", "interrupted")])
def test_a_session_reading_a_job_as_it_ends_keeps_its_end(tmp_path, on_disk, shown):
    """A session read ``running``; the job then wrote ``done`` and exited. The session's
    refresh finds no process: it keeps the job's own end, and marks the job interrupted
    only when the file still says running (the process died without a word)."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stale = jobs.Job(job_id="20261206-120000-train-abcdef", kind="train", label="t", params={}, requested_by="me",
                     status="running", created_at="2026-12-06T12:00:00+00:00", pid=gone.pid, pid_started=time.time())
    folder = jobs.jobs_dir(tmp_path) / stale.job_id
    folder.mkdir(parents=True)
    jobs._write(folder, stale.model_copy(update={"status": on_disk, "run_id": "R" if on_disk == "done" else None}))
    assert jobs.refresh(tmp_path, stale).status == shown
    assert jobs.read(tmp_path, stale.job_id).status == shown
    assert [p.name for p in folder.iterdir()] == ["job.json"]  # no temporary file left


def test_a_cancel_whose_signal_was_lost_is_taken_at_the_next_step(tmp_path):
    """A job whose SIGTERM never reaches it (swallowed where a handler cannot raise, as in a
    ``__del__``) still ends ``cancelled`` at its next progress step, and its handler goes no
    further (what the Cancel button promises: no run is written)."""
    import json

    art = tmp_path / "artifacts"
    folder = jobs.jobs_dir(art) / "20261207-101500-train-a1b2c3"
    folder.mkdir(parents=True)
    (folder / "settings.json").write_text(json.dumps(small_settings(art).to_dict()), encoding="utf-8")
    jobs._write(folder, jobs.Job(job_id=folder.name, kind="train", label="t", params={}, requested_by="a test",
                                 status="queued", created_at="2026-12-07T10:15:00+00:00"))
    reached = []

    def handler(job, settings, folder, progress):
        progress(0.1, "reading")
        (folder / "cancel").write_text("now", encoding="utf-8")     # asked; no signal comes
        progress(0.5, "training")
        reached.append("after the cancel")
        return {"run_id": "R"}

    previous = signal.getsignal(signal.SIGTERM)
    try:
        assert jobs.execute(art, folder.name, {"train": handler}) == 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert jobs.read(art, folder.name).status == "cancelled" and reached == []
