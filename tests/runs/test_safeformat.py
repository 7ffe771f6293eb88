"""Runs that cannot run code (issue 17, item 2): every part of a run loads without executing
code, and a run folder with a planted payload is refused in one line, the payload never run."""
import os
import pickle
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from core.errors import DataError
from core.runs import store
from tests.support import REPO


class _Payload:
    """A pickle that, when loaded, creates the file ``marker`` (what an attacker's would do)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture()
def copied(trained, tmp_path):
    """A copy of the small trained run in its own runs folder: (artifacts, run folder, marker path)."""
    art, run = trained
    dst = tmp_path / "artifacts"
    (dst / "runs").mkdir(parents=True)
    shutil.copytree(run.path, dst / "runs" / run.run_id)
    (dst / "CURRENT").write_text(run.run_id, encoding="utf-8")
    return dst, dst / "runs" / run.run_id, tmp_path / "payload-ran"


def test_a_run_holds_no_pickle_and_its_parts_load(trained):
    art, run = trained
    names = {p.name for p in run.path.iterdir()}
    assert not [n for n in names if n.endswith((".joblib", ".pkl", ".pickle"))]
    assert {"baseline.skops", "segmenter.json", "segmenter_preprocessor.skops", "segmenter_reference.npz"} <= names
    for p in run.path.iterdir():   # none of the files is a pickle (protocol 2+ starts with 0x80)
        assert not p.read_bytes()[:1] == b"\x80", p.name
    seg = run.segmenter()
    scored = run.table("scored")
    feats = run.table("features")
    again = seg.assign(feats)["segment_id"].to_numpy()
    np.testing.assert_array_equal(again, scored["segment_id"].to_numpy())   # assigns as the trained one did
    base = run.baseline()
    assert base.predict_proba(feats[run.scoring().feature_names]).shape == (len(feats), 2)


def _score_cli(art, data):
    return subprocess.run([sys.executable, "-m", "core", "--artifacts", str(art), "score", "--data", str(data),
                           "--out", str(art / "out.csv")], cwd=REPO, capture_output=True, text=True)


def test_a_planted_pickle_in_a_run_folder_is_refused_in_one_line_and_never_runs(copied, small_csv):
    art, folder, marker = copied
    (folder / "segmenter.joblib").write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(DataError, match=r"holds segmenter\.joblib, which no run holds .*refused"):
        store.load_run(art)
    out = _score_cli(art, small_csv)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and "segmenter.joblib" in out.stderr
    assert not marker.exists()


@pytest.mark.parametrize("part", ["segmenter_preprocessor.skops", "baseline.skops"])
def test_a_model_part_replaced_by_a_pickle_is_refused_and_never_runs(copied, small_csv, part):
    art, folder, marker = copied
    (folder / part).write_bytes(pickle.dumps(_Payload(marker)))
    run = store.load_run(art)
    load = run.segmenter if part.startswith("segmenter") else run.baseline
    with pytest.raises(DataError, match=rf"{part} is not a skops file .*refused"):
        load()
    if part.startswith("segmenter"):
        out = _score_cli(art, small_csv)
        assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and part in out.stderr
    assert not marker.exists()


def test_a_skops_file_naming_a_foreign_function_is_refused_before_anything_is_built(copied):
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    art, folder, marker = copied
    sio.dump(FunctionTransformer(os.system, kw_args={}), folder / "segmenter_preprocessor.skops")
    with pytest.raises(DataError, match=r"names types this product never saves \((posix|os)\.system"):
        store.load_run(art).segmenter()
    assert not marker.exists()


def test_an_array_file_holding_an_object_array_is_refused(copied):
    art, folder, _ = copied
    with open(folder / "segmenter_reference.npz", "wb") as fh:
        np.savez(fh, ref_Z=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataError, match=r"segmenter_reference\.npz is not an array file this product wrote \(it "
                                        r"holds Python objects"):
        store.load_run(art).segmenter()
    (folder / "segmenter_reference.npz").write_bytes(b"junk")
    with pytest.raises(DataError, match=r"segmenter_reference\.npz is not an \.npz array file: refused"):
        store.load_run(art).segmenter()


@pytest.mark.parametrize("name", ["scored.parquet", "matrix.parquet", "metrics.json"])
def test_a_damaged_table_of_a_run_is_refused_before_it_is_used(copied, small_csv, name):
    """A run whose scored table (say) is damaged cannot be promoted or scored with, and a
    command that reads the table says so in one line."""
    art, folder, _ = copied
    (folder / name).write_bytes(b"junk")
    with pytest.raises(DataError, match=re.escape(name) + r" cannot be read \(.*\): refused; retrain"):
        store.check_complete(store.load_run(art))
    out = _score_cli(art, small_csv)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and name in out.stderr
    if name.endswith(".parquet"):
        with pytest.raises(DataError, match=rf"{name.split('.')[0]}\.parquet cannot be read"):
            store.load_run(art).table(name.split(".")[0])


def test_a_run_of_the_pickle_format_is_refused_as_another_version(copied):
    import json

    art, folder, _ = copied
    man = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    man["run_format"] = 2
    (folder / "manifest.json").write_text(json.dumps(man), encoding="utf-8")
    with pytest.raises(DataError, match="another version of the product .*retrain"):
        store.load_run(art)


@pytest.mark.parametrize("content", [b"garbage", b"{}", b"\x80\x04K\x01."])
def test_a_damaged_xgboost_model_is_refused_in_one_line(copied, small_csv, content):
    art, folder, marker = copied
    (folder / "xgboost.json").write_bytes(content)
    with pytest.raises(DataError, match=r"xgboost\.json is not an XGBoost model in JSON: refused"):
        store.load_run(art).booster()
    out = _score_cli(art, small_csv)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and "xgboost.json" in out.stderr


def test_a_model_part_scoring_never_loads_is_refused_too(copied, small_csv):
    """baseline.skops serves only the comparison at training; a pickle in its place is still
    refused before a run is used (store.check_complete checks every model part)."""
    art, folder, marker = copied
    (folder / "baseline.skops").write_bytes(pickle.dumps(_Payload(marker)))
    out = _score_cli(art, small_csv)
    assert out.returncode == 2 and "baseline.skops is not a skops file" in out.stderr
    assert not marker.exists()


def test_a_run_saved_before_core_was_cut_into_packages_still_loads_and_scores(copied, small_csv):
    """Runs written before the packages name core.features and core.segmentation.neighbours in
    their skops files; they load with the functions' present homes and score as before."""
    import io
    import zipfile

    import pandas as pd

    from core.pipeline.scoring import ScoringModel
    from core.runs.safeformat import MOVED_MODULES

    art, folder, _ = copied
    expected, _ = ScoringModel.load(store.load_run(art)).score(pd.read_csv(small_csv), n_jobs=1)
    old = {new: was for was, new in MOVED_MODULES.items()}
    renamed = 0
    for part in folder.glob("*.skops"):
        with zipfile.ZipFile(part) as z:
            items = [(i, z.read(i.filename)) for i in z.infolist()]
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as w:
            for item, data in items:
                if item.filename == "schema.json":
                    text = data.decode()
                    for new, was in old.items():
                        renamed += text.count(f'"{new}"')
                        text = text.replace(f'"{new}"', f'"{was}"')
                    data = text.encode()
                w.writestr(item, data)
        part.write_bytes(out.getvalue())
    assert renamed >= 2   # the scaling pipelines named the moved functions: the files now look as before
    scored, _ = ScoringModel.load(store.load_run(art)).score(pd.read_csv(small_csv), n_jobs=1)
    pd.testing.assert_frame_equal(scored.drop(columns="scored_at"), expected.drop(columns="scored_at"))
