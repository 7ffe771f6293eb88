"""Production safety: one training at a time, a training killed midway leaves the champion
and its outputs intact, old runs pruned without touching champions."""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO

from core.cli import main
from core.runs import champions, lock, store
from core.runs.results import RUN_FORMAT


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


@pytest.mark.parametrize("challenger, auto, decision", [
    ({"roc_auc": 0.80, "pr_auc": 0.50, "ece": 0.010}, True, "promoted"),
    ({"roc_auc": 0.797, "pr_auc": 0.497, "ece": 0.014}, True, "promoted"),            # within 0.005
    ({"roc_auc": 0.81, "pr_auc": 0.52, "ece": 0.010}, False, "waiting for approval"),
    ({"roc_auc": 0.79, "pr_auc": 0.55, "ece": 0.010}, True, "kept champion"),         # ROC-AUC dropped 0.01
    ({"roc_auc": 0.80, "pr_auc": 0.50, "ece": 0.020}, True, "kept champion"),         # ECE rose 0.01
])
def test_promotion_decision(challenger, auto, decision):
    from core.pipeline.champion import promotion_decision

    champion = {"roc_auc": 0.80, "pr_auc": 0.50, "ece": 0.010}
    not_worse, got, why = promotion_decision(champion, challenger, 0.005, auto, "R1")
    assert got == decision
    assert (decision == "kept champion") == (not all(not_worse.values()))


def test_retrain_on_next_month_compares_on_the_challengers_test_rows(trained, settings_file, tmp_path, capsys,
                                                                     monkeypatch):
    from sklearn.metrics import roc_auc_score

    from core.inputs.synthetic import shopsphere

    art, run = trained
    copy = tmp_path / "art"
    shutil.copytree(art, copy, ignore=shutil.ignore_patterns("monitoring"))
    month1 = tmp_path / "month1.csv"
    shopsphere.generate(4000, seed=3, month=1).to_csv(month1, index=False)
    assert main(["--artifacts", str(copy), "--settings", str(settings_file), "retrain", "--data", str(month1)]) == 0
    out = capsys.readouterr().out
    report = json.loads(next(copy.glob("monitoring/*/retrain-*.json")).read_text())
    challenger = store.load_run(copy, report["challenger"])
    assert report["champion"] == run.run_id and store.current_run_id(copy) == run.run_id  # not auto-promoted
    assert report["decision"] in ("waiting for approval", "kept champion") and "decision: " in out
    s = challenger.table("scored")
    t = s[s["split"] == "test"]
    assert report["test_rows"] == len(t)
    assert report["metrics"]["challenger"]["roc_auc"] == pytest.approx(roc_auc_score(t["purchased_next_30d"], t["propensity"]))
    assert report["continuity"]["previous_run"] == run.run_id and report["continuity"]["transitions"]
    # the Admin page shows the comparison and promotes the waiting challenger
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("SHOPSPHERE_ARTIFACTS", str(copy))
    monkeypatch.chdir(REPO)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    at.switch_page("pages/admin.py").run()
    next(s for s in at.selectbox if s.label == "Run").set_value(
        report["challenger"]).run()   # Run history: the challenger's retrain report
    assert not at.exception
    table = next(d.value for d in at.dataframe if "model" in d.value.columns)
    assert table["model"].tolist() == ["champion", "challenger"]
    assert any(f"Decision: {report['decision']}" in m.value for m in list(at.info) + list(at.warning))
    next(b for b in at.button if b.label == f"Promote challenger {report['challenger']}").click().run()
    assert store.current_run_id(copy) == report["challenger"]


def test_dask_engine_equals_single_process_row_for_row(trained, small_table, tmp_path):
    import pandas as pd

    art, run = trained
    parts = tmp_path / "parts"
    parts.mkdir()
    src = small_table.drop(columns=["purchased_next_30d"])
    for i, start in enumerate(range(0, len(src), 1000)):
        src.iloc[start:start + 1000].to_parquet(parts / f"part-{i:03d}.parquet", index=False)
    for engine, out in (("pandas", "single.parquet"), ("dask", "dask.parquet")):
        assert main(["--artifacts", str(art), "score", "--data", str(parts), "--out", str(tmp_path / out),
                     "--engine", engine, "--workers", "2"]) == 0
    single, dask = pd.read_parquet(tmp_path / "single.parquet"), pd.read_parquet(tmp_path / "dask.parquet")
    assert len(dask) == len(src) == len(single)
    pd.testing.assert_frame_equal(dask.drop(columns="scored_at"), single.drop(columns="scored_at"))
    assert dask["scored_at"].nunique() == 1
