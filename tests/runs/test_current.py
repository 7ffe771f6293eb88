"""Each data set keeps its own current run; only the default data set's moves ``CURRENT``."""
import json

import pytest

from core.cli.main import main
from core.errors import DataError
from core.runs import champions, store
from core.runs.results import RUN_FORMAT


def _runs(art, spec: dict[str, str]) -> None:
    """Fake complete runs ``{run_id: dataset}`` (a manifest is all the current-run files read)."""
    for rid, dataset in spec.items():
        (store.runs_dir(art) / rid).mkdir(parents=True)
        (store.runs_dir(art) / rid / "manifest.json").write_text(
            json.dumps({"run_id": rid, "run_format": RUN_FORMAT, "dataset": dataset}))



A1, A2, B1, B2 = "20260101-000000-aaaaaa", "20260102-000000-aaaaaa", "20260103-000000-bbbbbb", "20260104-000000-bbbbbb"


def test_training_another_data_set_leaves_the_default_where_it_was(tmp_path):
    _runs(tmp_path, {A1: "shopsphere"})
    assert store.set_current(tmp_path, A1, "train") is True          # the first run is the default
    _runs(tmp_path, {B1: "marketing"})
    assert store.set_current(tmp_path, B1, "train") is False         # another table: its own current run only
    _runs(tmp_path, {A2: "shopsphere"})
    assert store.current_run_id(tmp_path) == A1
    assert store.current_run_id(tmp_path, "marketing") == B1
    assert store.current_runs(tmp_path) == {"shopsphere": A1, "marketing": B1}
    assert store.set_current(tmp_path, A2, "train") is True          # the default data set moves CURRENT
    assert store.current_runs(tmp_path) == {"shopsphere": A2, "marketing": B1}
    assert store.current_run_id(tmp_path, "nothing") is None
    entry = champions.champion_history(tmp_path)[1]
    assert (entry["dataset"], entry["default"], entry["previous"]) == ("marketing", False, None)


def test_promote_and_rollback_work_per_data_set(tmp_path, monkeypatch):
    monkeypatch.setattr(champions, "check_complete", lambda run: None)  # fake runs: only their manifests
    _runs(tmp_path, {A1: "shopsphere", A2: "shopsphere", B1: "marketing", B2: "marketing"})
    for rid in (A1, B1, B2, A2):
        store.set_current(tmp_path, rid, "train")
    assert champions.champion_stack(tmp_path) == [A1, A2]
    assert champions.champion_stack(tmp_path, "marketing") == [B1, B2]
    assert champions.rollback(tmp_path, "marketing") == B1           # the default data set is not touched
    assert store.current_runs(tmp_path) == {"shopsphere": A2, "marketing": B1}
    assert champions.promote(tmp_path, B2) == B1
    assert store.current_run_id(tmp_path) == A2
    with pytest.raises(DataError, match="already the current run of data set 'marketing'"):
        champions.promote(tmp_path, B2)
    champions.promote(tmp_path, B2, make_default=True)               # on purpose: everybody sees it first
    assert store.current_run_id(tmp_path) == B2 and store.default_dataset(tmp_path) == "marketing"
    assert list(store.current_runs(tmp_path)) == ["marketing", "shopsphere"]
    assert champions.rollback(tmp_path) == B1                         # rollback of the (new) default data set
    assert champions.rollback(tmp_path, "shopsphere") == A1           # not the default: CURRENT stays
    assert store.current_run_id(tmp_path) == B1
    with pytest.raises(DataError, match="for data set 'shopsphere'"):
        champions.rollback(tmp_path, "shopsphere")


def test_a_runs_folder_from_before_current_json_still_knows_its_data_sets(tmp_path):
    _runs(tmp_path, {A1: "shopsphere", B1: "marketing"})
    (tmp_path / "CURRENT").write_text(A1 + "\n")                      # written by an earlier version
    assert store.current_runs(tmp_path) == {"shopsphere": A1, "marketing": B1}
    (tmp_path / "current.json").write_text("{damaged")
    assert store.current_run_id(tmp_path, "marketing") == B1


def test_pruning_keeps_every_data_sets_champions(tmp_path):
    _runs(tmp_path, {A1: "shopsphere", A2: "shopsphere", B1: "marketing", B2: "marketing"})
    for rid in (B1, A1, A2):
        store.set_current(tmp_path, rid, "train")
    assert champions.prune_runs(tmp_path, keep=1) == []               # B1 is marketing's current run: kept
    assert store.list_runs(tmp_path) == [A1, A2, B1, B2]


def test_the_command_line_takes_a_data_set_and_names_the_known_ones(tmp_path, capsys):
    _runs(tmp_path, {A1: "shopsphere", B1: "marketing"})
    store.set_current(tmp_path, A1, "train")
    store.set_current(tmp_path, B1, "train")
    assert main(["report", "--artifacts", str(tmp_path), "--dataset", "nothing", "--out", str(tmp_path / "r.md")]) == 2
    assert "--dataset nothing: no run of that data set" in (err := capsys.readouterr().err)
    assert "(data sets: shopsphere, marketing)" in err
    assert main(["rollback", "--artifacts", str(tmp_path), "--dataset", "marketing"]) == 2
    assert "for data set 'marketing'" in capsys.readouterr().err
