"""Runs that stay safe: one training at a time, a training killed midway leaves the champion intact, pruning keeps every champion."""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from core.cli import main
from core.runs import champions, lock, store
from core.runs.results import RUN_FORMAT
from tests.support import REPO


def _digest(folder):
    """SHA-256 over every file's relative path and bytes under ``folder``."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(folder)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_a_second_training_is_refused_while_one_runs(trained, tmp_path, capsys):
    art, run = trained
    with lock.training_lock(art):
        assert main(["--artifacts", str(art), "train", "--data", str(tmp_path / "any.csv")]) == 2
    assert "another training is running" in capsys.readouterr().err
    assert store.current_run_id(art) == run.run_id


def test_training_killed_midway_leaves_the_champion_intact(trained, small_csv, settings_file, tmp_path):
    art, run = trained
    copy = tmp_path / "art"
    shutil.copytree(art, copy, ignore=shutil.ignore_patterns("monitoring"))
    before = _digest(copy / "runs" / run.run_id)
    proc = subprocess.Popen([sys.executable, "-m", "core", "--artifacts", str(copy), "--settings", str(settings_file),
                             "train", "--data", str(small_csv)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    seen = []
    deadline = time.monotonic() + 300
    for line in proc.stdout:  # kill midway: once the segmentation is under way
        seen.append(line)
        if "segmentation:" in line or time.monotonic() > deadline:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL and "segmentation:" in seen[-1], "".join(seen)
    assert store.current_run_id(copy) == run.run_id
    assert store.list_runs(copy) == [run.run_id]           # no half-written run became visible
    assert _digest(copy / "runs" / run.run_id) == before      # the champion's files are untouched
    with lock.training_lock(copy):                        # the OS released the killed process's lock
        champions.prune_runs(copy, keep=10)
    assert not any(p.name.startswith(".tmp-") for p in (copy / "runs").iterdir())  # leftovers cleaned


def test_pruning_keeps_the_newest_runs_and_every_champion(tmp_path):
    ids = [f"2026010{i}-000000-aaaaaa" for i in range(1, 7)]
    for rid in ids:
        (store.runs_dir(tmp_path) / rid).mkdir(parents=True)
        (store.runs_dir(tmp_path) / rid / "manifest.json").write_text(json.dumps({"run_id": rid, "run_format": RUN_FORMAT}))
    store.set_current(tmp_path, ids[0], "train")
    store.set_current(tmp_path, ids[1], "promote")   # ids[0] stays a champion to roll back to
    assert champions.prune_runs(tmp_path, keep=2) == ids[2:4]
    assert store.list_runs(tmp_path) == [ids[0], ids[1], ids[4], ids[5]]
    assert champions.prune_runs(tmp_path, keep=0) == []
    with pytest.raises(Exception, match="keep_runs"):
        from core.settings import Settings
        Settings(keep_runs=-1)
