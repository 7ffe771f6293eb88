"""CLI exit codes and one-line errors; a failed command leaves the current run unchanged."""
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from core.cli import main
from core.runs import store
from tests.support import REPO


def _snapshot(art):
    return store.current_run_id(art), store.list_runs(art)


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
    assert list(got.columns) == ["customer_id", "segment_id", "persona", "segment_confidence",
                                 "segment_reassigned", "propensity", "propensity_decile", "reason_1", "reason_2",
                                 "reason_3", "run_id", "scored_at"]
    assert len(got) == len(small_table) and got["scored_at"].nunique() == 1
    # a folder of Parquet parts (a partitioned data set) scores to the same rows
    parts = tmp_path / "parts"
    parts.mkdir()
    src = small_table.drop(columns=["purchased_next_30d"]).iloc[::-1]
    for i, start in enumerate(range(0, len(src), 1500)):
        src.iloc[start:start + 1500].to_parquet(parts / f"part-{i:03d}.parquet", index=False)
    code, _ = _run(capsys, art, settings_file, "score", "--data", str(parts), "--out", str(tmp_path / "p.csv"))
    from_parts = pd.read_csv(tmp_path / "p.csv", dtype={"customer_id": str})
    assert code == 0 and from_parts["customer_id"].tolist() == got["customer_id"].tolist()
    # without --out: scores_<run id>_<date>.parquet in the working folder
    import os

    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        code, _ = _run(capsys, art, settings_file, "score", "--data", str(inp))
    finally:
        os.chdir(here)
    assert code == 0 and len(list(tmp_path.glob(f"scores_{run.run_id}_*.parquet"))) == 1
    assert from_parts["propensity"].to_numpy() == pytest.approx(got["propensity"].to_numpy(), abs=1e-12)
    # scoring reproduces the training run's own scores and reasons for the same customers
    ref = run.table("scored").set_index("customer_id")
    got = got.set_index("customer_id").loc[ref.index]
    assert (got["segment_id"].to_numpy() == ref["segment_id"].to_numpy()).all()
    assert got["propensity"].to_numpy() == pytest.approx(ref["propensity"].to_numpy(), abs=1e-6)
    assert (got["reason_1"] == ref["reason_1"]).all() and (got["reason_3"] == ref["reason_3"]).all()
    assert got["reason_1"].str.match(r".+ \((raises|lowers)\)$").all()


def test_score_refuses_a_model_trained_on_another_spec(trained, settings_file, small_csv, tmp_path, capsys):
    art, _ = trained
    other = tmp_path / "other.toml"
    other.write_text(Path("configs/marketing_campaign.toml").read_text())
    code, err = _run(capsys, art, settings_file, "score", "--data", str(small_csv), "--spec", str(other),
                     "--out", str(tmp_path / "o.csv"))
    assert code == 2 and len(err) == 1
    assert "was trained on spec 'shopsphere', not on this spec 'marketing_campaign'" in err[0]
    assert not (tmp_path / "o.csv").exists()


def _bad_file(tmp_path, small_table, case):
    """Write a bad input file; return (path, the text the one-line error must contain)."""
    p = tmp_path / f"{case}.csv"
    if case == "empty":
        p.write_text("")
        return p, "file is empty"
    if case in ("no_target", "missing_feature"):
        col = "purchased_next_30d" if case == "no_target" else "days_since_last_order"
        small_table.drop(columns=col).to_csv(p, index=False)
        return p, f"missing required column '{col}'"
    df = small_table.astype({"sessions_30d": object})
    df.loc[4, "sessions_30d"] = "lots"
    df.to_csv(p, index=False)
    return p, "column 'sessions_30d': text 'lots' at line 6"


@pytest.mark.parametrize("command,case", [
    ("train", "no_target"), ("train", "text_in_numeric"), ("train", "empty"),
    ("score", "missing_feature"), ("score", "text_in_numeric"), ("score", "empty"),
])
def test_bad_input_exits_2_with_one_line_and_keeps_current(trained, settings_file, small_table, tmp_path, capsys,
                                                           command, case):
    art, _ = trained
    before = _snapshot(art)
    p, expect = _bad_file(tmp_path, small_table, case)
    out = tmp_path / "o.csv"
    extra = ["--out", str(out)] if command == "score" else []
    code, err = _run(capsys, art, settings_file, command, "--data", str(p), *extra)
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: ") and expect in err[0]
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


def test_too_little_to_learn_from_is_refused_exits_2(trained, settings_file, small_table, tmp_path, capsys):
    art, _ = trained
    before = _snapshot(art)
    p = tmp_path / "tiny.csv"
    small_table.head(30).to_csv(p, index=False)
    code, err = _run(capsys, art, settings_file, "train", "--data", str(p))
    assert code == 2 and len(err) == 1
    assert "too little to learn from" in err[0] and "need at least 100 of each" in err[0]
    assert _snapshot(art) == before


def test_output_problems_fail_before_scoring(trained, settings_file, small_csv, tmp_path, capsys):
    art, _ = trained
    folder = tmp_path / "out.csv"
    folder.mkdir()
    code, err = _run(capsys, art, settings_file, "score", "--data", str(small_csv), "--out", str(folder))
    assert code == 2 and "is a folder" in err[0]
    assert list(folder.iterdir()) == [] and not (tmp_path / ".out.csv.tmp").exists()
    code, err = _run(capsys, art, settings_file, "score", "--data", str(small_csv), "--out", str(tmp_path / "o.json"))
    assert code == 2 and "must end in .csv or .parquet" in err[0]


def test_run_must_be_a_run_id(trained, settings_file, small_csv, tmp_path, capsys):
    art, run = trained
    code, err = _run(capsys, art, settings_file, "score", "--data", str(small_csv), "--out", str(tmp_path / "o.csv"),
                     "--run", str(run.path))
    assert code == 2 and "is not a run id" in err[0]


def test_global_flags_after_the_command(trained, settings_file, small_csv, tmp_path, capsys):
    art, _ = trained
    out = tmp_path / "o.csv"
    code = main(["score", "--data", str(small_csv), "--out", str(out), "--artifacts", str(art),
                 "--settings", str(settings_file)])
    assert code == 0 and out.exists()


def test_score_reports_cleaning(trained, settings_file, small_table, tmp_path, capsys):
    art, _ = trained
    df = small_table.head(100).copy()
    df.loc[0, "pages_per_session"] = float("inf")
    df.loc[1, "total_spend_12m"] = -40.0
    df["note"] = "x"
    p = tmp_path / "d.csv"
    df.to_csv(p, index=False)
    code, err = _run(capsys, art, settings_file, "score", "--data", str(p), "--out", str(tmp_path / "o.csv"))
    assert code == 0
    assert "note: ignored columns not in the spec: note" in err
    assert "note: column 'pages_per_session': 1 infinite or too large value(s) treated as missing" in err
    assert "note: column 'total_spend_12m': 1 value(s) outside the valid range clipped to the valid range" in err


def test_a_reader_that_goes_away_gives_no_traceback(tmp_path):
    """``python -m core ... | head``: the reader closes the pipe before the command writes."""
    p = subprocess.Popen([sys.executable, "-m", "core", "--artifacts", str(tmp_path), "runs"], cwd=REPO,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()  # before the interpreter has even imported the CLI
    err = p.stderr.read().decode()
    assert p.wait(timeout=60) == 1
    assert "Traceback" not in err and "BrokenPipeError" not in err


@pytest.mark.parametrize("argv, said", [
    (["readout", "--cohort", "c.csv", "--outcomes", "o.csv", "--sized-for", "-1"],
     "--sized-for -1.0: the relative uplift the holdout was sized for, between 0 and 10"),
    (["readout", "--cohort", "c.csv", "--outcomes", "o.csv", "--out", "r.txt"], "r.txt: output must end in .json"),
    (["score", "--data", "a.csv", "--log", "l.csv"], "score needs one of --data TABLE or --log LOG, not both"),
    (["cohort", "--name", "n" * 201], "--name: 201 characters: a cohort name has at most 200"),
    (["cohort", "--name", "x", "--min-propensity", "2"], "--min-propensity 2.0: a propensity from 0 to 1"),
    (["cohort", "--name", "x", "--min-propensity", "0.6", "--max-propensity", "0.4"],
     "--min-propensity 0.6 is above --max-propensity 0.4"),
    (["generate", "--rows", "0"], "--rows must be at least 100, got 0"),
    (["--seed", "-1", "runs"], "seed as given: seed must be a whole number"),
    (["cohort"], "the following arguments are required: --name (see: python -m core cohort --help)"),
    (["--seed", "abc", "runs"], "argument --seed: invalid int value: 'abc'"),
])
def test_command_line_mistakes_are_one_line(tmp_path, capsys, argv, said):
    assert main(["--artifacts", str(tmp_path)] + argv) == 2
    err = capsys.readouterr().err
    assert err.strip().startswith(f"error: {said}") and len(err.strip().splitlines()) == 1, err


def test_readout_out_in_a_missing_folder_is_made(trained, tmp_path):
    """`readout --out` writes its JSON where asked, the folder made when missing."""
    import json
    import shutil

    from core.actions.campaigns import read_cohort
    from core.activation import cohorts
    from core.inputs.synthetic import campaigns
    src, run = trained
    art = tmp_path / "artifacts"
    shutil.copytree(src, art)
    scored = store.load_run(art).table("scored")
    mask = cohorts.cohort_mask(scored, None, 0.0, 1.0)
    export = cohorts.cohort_export(scored, mask, len(scored) // 3, 1)
    export.to_csv(tmp_path / "c.csv", index=False)
    outcomes, _ = campaigns.simulate_outcomes(read_cohort(tmp_path / "c.csv"), 0.05, seed=1)
    outcomes.to_csv(tmp_path / "o.csv", index=False)
    out = tmp_path / "new" / "folder" / "r.json"
    assert main(["--artifacts", str(art), "readout", "--cohort", str(tmp_path / "c.csv"), "--outcomes",
                 str(tmp_path / "o.csv"), "--out", str(out)]) == 0
    assert json.loads(out.read_text(encoding="utf-8"))["rows"]["cohort"] == len(export)
