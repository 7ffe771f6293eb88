"""Typed results at the registry boundary, and runs of another format."""
import json

import pytest

from core.cli import main
from core.errors import DataError
from core.runs import results as R
from core.runs import store


def test_a_misspelt_key_fails_at_load_naming_the_file_and_the_key(tmp_path):
    good = {"previous_run": None, "reason": "first", "status": {"0": "first run"}, "retired": [], "pairs": [],
            "next_id": 1, "previous_names": {}}
    path = tmp_path / "continuity.json"
    path.write_text(json.dumps(good))
    c = R.Continuity.from_json(path)
    assert c.status == {0: "first run"} and c.next_id == 1 and c.transitions is None
    assert R.Continuity.from_dict(c.to_json()) == c          # what is written reads back
    path.write_text(json.dumps({**good, "nxt_id": 1}))       # misspelt (and so the real key is missing)
    with pytest.raises(DataError, match=r"continuity\.json: not a Continuity of this version \((next_id|nxt_id)"):
        R.Continuity.from_json(path)
    path.write_text(json.dumps({**good, "next_id": "one"}))  # mistyped
    with pytest.raises(DataError, match=r"next_id: input should be a valid integer"):
        R.Continuity.from_json(path)


def _run_folder(art, rid, manifest):
    d = store.runs_dir(art) / rid
    d.mkdir(parents=True)
    for f in store.RUN_FILES:
        (d / f).write_text("")
    (d / "manifest.json").write_text(json.dumps(manifest))
    return d


@pytest.mark.parametrize("manifest, shown", [
    ({"run_id": "20261101-000000-abcdef"}, "run format 1"),                     # written before run formats
    ({"run_id": "20261101-000000-abcdef", "run_format": 99}, "run format 99"),
])
def test_a_run_of_another_format_is_refused_in_one_line(tmp_path, capsys, manifest, shown):
    rid = "20261101-000000-abcdef"
    _run_folder(tmp_path, rid, manifest)
    (tmp_path / "CURRENT").write_text(rid)
    with pytest.raises(DataError, match=f"run {rid} was written by another version of the product \\({shown}, "
                                        f"this version reads {R.RUN_FORMAT}\\): retrain it"):
        store.load_run(tmp_path)
    data = tmp_path / "t.csv"
    data.write_text("customer_id\n1\n")
    assert main(["--artifacts", str(tmp_path), "score", "--data", str(data), "--out", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "retrain it (python -m core train)" in err
    assert store.run_history(tmp_path)["run_id"].tolist() == [rid]  # still listed, with blanks


def test_a_run_folder_without_its_own_manifest_is_damaged(tmp_path):
    rid = "20261101-000000-abcdef"
    _run_folder(tmp_path, rid, {"run_id": "20261101-000000-000000", "run_format": R.RUN_FORMAT})
    with pytest.raises(DataError, match="is damaged"):
        store.load_run(tmp_path, rid)


def test_train_replaces_a_current_run_of_another_format(trained, tmp_path, monkeypatch):
    """The one-line refusal says to retrain: train_or_retrain then trains and makes the new
    run current (it does not try to challenge the unreadable run)."""
    import shutil

    from core.pipeline import champion

    art, run = trained
    copy = tmp_path / "art"
    shutil.copytree(art, copy)
    man = json.loads((copy / "runs" / run.run_id / "manifest.json").read_text())
    (copy / "runs" / run.run_id / "manifest.json").write_text(json.dumps({**man, "run_format": 1}))
    calls = []
    monkeypatch.setattr(champion, "train", lambda *a, **k: calls.append(("train", k)) or "new run")
    from types import SimpleNamespace

    monkeypatch.setattr(champion, "retrain",
                        lambda *a, **k: calls.append(("retrain", k)) or SimpleNamespace(challenger=run.run_id))
    from core.settings import Settings

    out = champion.train_or_retrain(None, None, Settings(artifacts_dir=copy, write_database=False))
    assert calls == [("train", {"sheet": None})] and out.run == "new run" and out.retrain is None
    (copy / "runs" / run.run_id / "manifest.json").write_text(json.dumps(man))  # readable again: a challenger
    calls.clear()
    champion.train_or_retrain(None, None, Settings(artifacts_dir=copy, write_database=False))
    assert [c[0] for c in calls] == ["retrain"]


def test_retrain_on_another_data_set_is_refused_before_training(trained, tmp_path, capsys):
    import shutil

    from tests.support import MARKETING, REPO

    art, run = trained
    copy = tmp_path / "art"
    shutil.copytree(art, copy)
    code = main(["--artifacts", str(copy), "retrain", "--data", str(MARKETING), "--spec",
                 str(REPO / "configs" / "marketing_campaign.toml")])
    assert code == 2 and "of data set 'marketing_campaign', the champion" in capsys.readouterr().err
    assert store.list_runs(copy) == [run.run_id]  # nothing was trained


def test_a_damaged_names_file_falls_back_to_automatic_names_on_every_page(trained, tmp_path, monkeypatch):
    import shutil

    from streamlit.testing.v1 import AppTest

    from tests.support import REPO

    art, run = trained
    copy = tmp_path / "art"
    shutil.copytree(art, copy)
    (copy / "display_names.json").write_text(json.dumps({"shopsphere": {"0": 5}}))
    monkeypatch.setenv("SHOPSPHERE_ARTIFACTS", str(copy))
    monkeypatch.chdir(REPO)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    for page in ("projection", "matrix", "cohort", "segments"):
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, (page, at.exception)
    from core.inputs.synthetic import shopsphere
    from core.pipeline.scoring import ScoringModel

    scored, _ = ScoringModel.load(store.load_run(copy)).score(shopsphere.generate(200, seed=4))
    assert set(scored["segment_name"]) <= set(run.scoring().segment_names.values())
