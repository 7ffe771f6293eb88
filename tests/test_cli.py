"""CLI exit codes and one-line errors; a failed command leaves the current run unchanged."""
import subprocess
import sys

import pandas as pd
import pytest

from core import registry
from core.cli import main

from conftest import REPO


def _snapshot(art):
    return registry.current_run_id(art), registry.list_runs(art)


def _run(capsys, art, settings_file, *args):
    code = main(["--settings", str(settings_file), "--artifacts", str(art), *args])
    err = capsys.readouterr().err.strip().splitlines()
    return code, err


def test_score_writes_expected_columns(trained, settings_file, small_table, tmp_path, capsys):
    art, run = trained
    inp = tmp_path / "new.csv"
    small_table.drop(columns=["purchased_next_30d"]).iloc[::-1].to_csv(inp, index=False)  # no target, reordered rows
    out = tmp_path / "scored.parquet"
    code, _ = _run(capsys, art, settings_file, "score", "--data", str(inp), "--out", str(out))
    assert code == 0
    got = pd.read_parquet(out)
    assert list(got.columns) == ["customer_id", "segment_id", "segment_name", "segment_confidence",
                                 "segment_reassigned", "propensity", "propensity_decile", "run_id"]
    assert len(got) == len(small_table)
    # scoring reproduces the training run's own scores for the same customers
    ref = run.table("scored").set_index("customer_id")
    got = got.set_index("customer_id").loc[ref.index]
    assert (got["segment_id"].to_numpy() == ref["segment_id"].to_numpy()).all()
    assert got["propensity"].to_numpy() == pytest.approx(ref["propensity"].to_numpy(), abs=1e-6)


@pytest.mark.parametrize("case", ["no_target", "text_in_numeric", "empty"])
def test_train_bad_input_exits_2_and_keeps_current(trained, settings_file, small_table, tmp_path, capsys, case):
    art, _ = trained
    before = _snapshot(art)
    p = tmp_path / f"{case}.csv"
    if case == "no_target":
        small_table.drop(columns="purchased_next_30d").to_csv(p, index=False)
        expect = "missing required column 'purchased_next_30d'"
    elif case == "text_in_numeric":
        df = small_table.astype({"sessions_30d": object})
        df.loc[4, "sessions_30d"] = "lots"
        df.to_csv(p, index=False)
        expect = "column 'sessions_30d': text 'lots' at row 5"
    else:
        p.write_text("")
        expect = "file is empty"
    code, err = _run(capsys, art, settings_file, "train", "--data", str(p))
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: ") and expect in err[0]
    assert _snapshot(art) == before


@pytest.mark.parametrize("case", ["missing_feature", "text_in_numeric", "empty"])
def test_score_bad_input_exits_2(trained, settings_file, small_table, tmp_path, capsys, case):
    art, _ = trained
    before = _snapshot(art)
    p = tmp_path / f"{case}.csv"
    if case == "missing_feature":
        small_table.drop(columns="days_since_last_order").to_csv(p, index=False)
        expect = "missing required column 'days_since_last_order'"
    elif case == "text_in_numeric":
        df = small_table.astype({"refund_rate": object})
        df.loc[0, "refund_rate"] = "n/a!"
        df.to_csv(p, index=False)
        expect = "column 'refund_rate': text 'n/a!' at row 1"
    else:
        p.write_text("")
        expect = "file is empty"
    out = tmp_path / "o.csv"
    code, err = _run(capsys, art, settings_file, "score", "--data", str(p), "--out", str(out))
    assert code == 2
    assert len(err) == 1 and expect in err[0]
    assert not out.exists()
    assert _snapshot(art) == before


def test_process_exit_code_and_no_traceback(tmp_path):
    empty = tmp_path / "e.csv"
    empty.write_text("")
    r = subprocess.run([sys.executable, "-m", "core", "--artifacts", str(tmp_path / "a"), "train", "--data", str(empty)],
                       cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [f"error: {empty}: file is empty"]


def test_score_without_any_run(tmp_path, small_csv, capsys, settings_file):
    code, err = _run(capsys, tmp_path / "none", settings_file, "score", "--data", str(small_csv), "--out", str(tmp_path / "o.csv"))
    assert code == 2 and "no trained run" in err[0]
