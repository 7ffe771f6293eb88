"""One way in: each workflow run through the CLI (``core.cli.main``, as ``python -m core``
runs it) and through its use case (``core.actions``) gives the same result."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from core.actions import campaigns, scoring, training
from core.cli.main import main
from core.inputs.shopsphere_spec import resolve_spec, shopsphere_spec
from core.inputs.synthetic import campaigns as simulated
from core.runs import store
from core.runs.compare import run_differences
from core.settings import load_settings
from tests.support import SMALL_SETTINGS_TOML


@pytest.fixture()
def copied(trained, tmp_path):
    """The small trained run in a runs folder of this test's own, and its settings."""
    src, run = trained
    art = tmp_path / "artifacts"
    shutil.copytree(src, art)
    settings_file = tmp_path / "settings.toml"
    settings_file.write_text(SMALL_SETTINGS_TOML)
    return art, settings_file, load_settings(settings_file, artifacts_dir=art)


def _cli(art, settings_file, *argv) -> int:
    return main(["--settings", str(settings_file), "--artifacts", str(art), *argv])


@pytest.mark.slow  # two trainings
def test_training_through_the_cli_and_the_use_case_makes_the_same_run(small_csv, tmp_path):
    settings_file = tmp_path / "settings.toml"
    settings_file.write_text(SMALL_SETTINGS_TOML)
    assert _cli(tmp_path / "cli", settings_file, "train", "--data", str(small_csv)) == 0
    result = training.train(small_csv, None, load_settings(settings_file, artifacts_dir=tmp_path / "layer"))
    cli_run = store.load_run(tmp_path / "cli")
    assert result.outcome == "trained and made current" and result.database and not result.notes
    assert run_differences(cli_run.path, result.run.path) == []


def test_scoring_a_file_through_the_cli_and_the_use_case_gives_the_same_scores(copied, small_csv, tmp_path):
    art, settings_file, settings = copied
    assert _cli(art, settings_file, "score", "--data", str(small_csv), "--out", str(tmp_path / "cli.parquet"),
                "--no-db") == 0
    result = scoring.score_file(settings, small_csv, out=tmp_path / "layer.parquet", write_database=False)
    cli, layer = (pd.read_parquet(tmp_path / f"{w}.parquet").drop(columns="scored_at") for w in ("cli", "layer"))
    assert result.rows == len(layer) == 4000 and "persona" in layer.columns
    pd.testing.assert_frame_equal(cli, layer)


def test_a_cohort_through_the_cli_and_the_use_case_holds_the_same_customers(copied, tmp_path):
    art, settings_file, settings = copied
    assert _cli(art, settings_file, "cohort", "--name", "winter", "--min-propensity", "0.2", "--holdout-for", "0.5",
                "--out", str(tmp_path / "cli.csv")) == 0
    cohort = campaigns.build_cohort(settings, min_propensity=0.2, holdout_for=0.5)
    saved = campaigns.save_cohort(settings, cohort, "winter", out=tmp_path / "layer.csv")
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "cli.csv"), pd.read_csv(tmp_path / "layer.csv"))
    assert cohort.holdout > 0 and (cohort.export["group"] == "holdout").sum() == cohort.holdout
    # the same cohort saved twice is the same cohort: its id is a hash of what it holds
    with campaigns.open_database(campaigns.database_url(settings)) as db:
        saved_ids = campaigns.saved_cohorts(db)["cohort_id"].tolist()
    assert saved_ids == [saved.cohort_id]


def test_a_readout_through_the_cli_and_the_use_case_says_the_same(copied, tmp_path):
    art, settings_file, settings = copied
    cohort = campaigns.build_cohort(settings, holdout_for=0.5)
    cohort.export.to_csv(tmp_path / "cohort.csv", index=False)
    outcomes, _ = simulated.simulate_outcomes(cohort.export, 0.05, seed=1)
    outcomes.to_csv(tmp_path / "outcomes.csv", index=False)
    assert _cli(art, settings_file, "readout", "--cohort", str(tmp_path / "cohort.csv"), "--outcomes",
                str(tmp_path / "outcomes.csv"), "--sized-for", "0.5", "--out", str(tmp_path / "cli.json")) == 0
    layer = campaigns.readout(settings, cohort=tmp_path / "cohort.csv", outcomes=tmp_path / "outcomes.csv",
                              sized_for=0.5, save=False)
    assert json.loads((tmp_path / "cli.json").read_text()) == json.loads(json.dumps(layer.result))
    assert layer.result["overall"]["uplift"]["absolute_ci"][0] > 0


def test_a_drift_check_through_the_cli_and_the_use_case_reports_the_same(copied, small_table, tmp_path):
    art, settings_file, settings = copied
    new = small_table.assign(sessions_30d=small_table["sessions_30d"] * 3)
    new.to_csv(tmp_path / "new.csv", index=False)
    assert _cli(art, settings_file, "drift", "--data", str(tmp_path / "new.csv")) == 0
    layer = scoring.drift(settings, tmp_path / "new.csv")
    saved = sorted((art / "monitoring" / layer.run_id).glob("drift-*.json"))
    cli = json.loads(saved[0].read_text())
    assert {k: v for k, v in cli.items() if k != "created_at"} == \
        {k: v for k, v in json.loads(json.dumps(layer.report)).items() if k != "created_at"}
    assert next(r for r in layer.report["features"] if r["feature"] == "sessions_30d")["flag"] == "act"


def test_checking_a_table_through_the_cli_and_the_use_case_finds_the_same(small_table, tmp_path, capsys):
    bad = small_table.copy()
    bad.loc[:99, "csat_score"] = 9.0  # outside 1..5: set missing, and said
    bad.to_csv(tmp_path / "t.csv", index=False)
    assert main(["check", "--data", str(tmp_path / "t.csv")]) == 0
    printed = capsys.readouterr().out
    check = training.check_table(pd.read_csv(tmp_path / "t.csv", dtype={"customer_id": str}), shopsphere_spec(),
                                 str(tmp_path / "t.csv"), load_settings(None))
    assert f"{check.quality['rows']:,} rows" in printed and f"{check.positives:,} positives" in printed
    assert check.trainable and check.notes and all(f"note: {n}" in printed for n in check.notes)
    assert "'csat_score': 100 value(s) outside the valid range set missing" in printed


def test_check_refuses_a_leaky_table_as_training_would(tmp_path, capsys):
    """A column named like it is measured after the prediction date, or one that alone
    predicts the target, makes the table untrainable in check, as train would refuse it."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 1000)
    base = pd.DataFrame({"customer_id": [f"c{i}" for i in range(1000)], "visits": rng.poisson(3, 1000),
                         "spend": rng.gamma(2.0, 30.0, 1000).round(2), "Response": y})
    for leak, said in (({"orders_next_30d": y * 2}, "orders_next_30d"),
                       ({"score_x": y + rng.normal(0, 0.01, 1000)}, "alone it predicts the target")):
        path = tmp_path / "leaky.csv"
        base.assign(**leak).to_csv(path, index=False)
        assert main(["check", "--data", str(path), "--target", "Response"]) == 2
        assert said in capsys.readouterr().err
        choice = training.spec_for_table(path, None, "Response")
        spec = resolve_spec(choice.path)
        check = training.check_table(pd.read_csv(path), spec, str(path), load_settings(None))
        assert not check.trainable and said in check.why
