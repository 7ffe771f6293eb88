"""Same data, seed and library versions: the same run, whatever the thread counts and
process pools of the machine, and whatever its CPU (issue 16, item 2)."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from core.inputs.synthetic import shopsphere
from core.runs import compare, store
from tests.support import REPO, SMALL_SETTINGS_TOML

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


#: Another x86-64 CPU, as far as this machine can play one: numpy's SIMD code for the
#: baseline (SSE4.2) instead of AVX2 / AVX-512 (numpy's "Runtime dispatch" docs), OpenBLAS's
#: kernels of a core without FMA (OpenBLAS's README, ``OPENBLAS_CORETYPE``), glibc's libm
#: without its AVX2 / FMA variants (glibc's tunables, ``glibc.cpu.hwcaps``: ``exp`` and
#: ``pow`` give other last bits), and numba tuning for another CPU (``NUMBA_CPU_NAME``; with
#: the host's features, so it runs anywhere: left to numba, it changes UMAP's embedding,
#: ``reducers.PORTABLE_CPU``), each its own order of arithmetic.
OTHER_CPU_ENV = {"NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4", "OPENBLAS_CORETYPE": "Sandybridge",
                 "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX2,-FMA", "NUMBA_CPU_NAME": "skylake-avx512"}


def _start(tmp_path, data, name, n_jobs, env):
    """A training in a fresh process: ``(the process, its runs folder)``."""
    settings = tmp_path / f"settings_{name}.toml"
    settings.write_text(SMALL_SETTINGS_TOML.replace("n_jobs = 2", f"n_jobs = {n_jobs}"))
    artifacts = tmp_path / f"artifacts_{name}"
    proc = subprocess.Popen([sys.executable, "-m", "core", "--settings", str(settings), "--artifacts", str(artifacts),
                             "train", "--data", str(data)], cwd=REPO, env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return proc, artifacts


def _finish(started):
    proc, artifacts = started
    _, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err[-2000:]
    return store.load_run(artifacts).path


@pytest.mark.slow
def _duplicate_heavy(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.Index]:
    """``df`` with 40% of its rows made copies of one dormant customer (ties everywhere: in the
    neighbours, the clusters, the trees' splits); returns the table and the copied rows."""
    df = df.copy()
    dormant = df[(df["orders_12m"] == 0) & (df["sessions_30d"] == 0)].iloc[0]
    dup = df.sample(frac=0.4, random_state=0).index
    feature_cols = [c for c in df.columns if c not in ("customer_id", "purchased_next_30d")]
    df.loc[dup, feature_cols] = dormant[feature_cols].to_numpy()
    df.loc[dup, "purchased_next_30d"] = (np.arange(len(dup)) % 50 == 0).astype(int)
    return df, dup


@pytest.mark.slow
def test_two_trainings_in_separate_processes_with_different_threads_pools_and_cpus_match(tmp_path, small_table):
    """Three fresh processes train on a table where 40% of the customers are one dormant
    customer's copies: 1 and 2 threads give the same run, another CPU the same segments and
    scores; identical customers get identical answers."""
    data = tmp_path / "customers.parquet"
    table, dup = _duplicate_heavy(small_table.drop(columns=[c for c in small_table.columns if c.startswith("_")]))
    table.to_parquet(data, index=False)
    # the three trainings run at once, each in a fresh process of its own
    started = [_start(tmp_path, data, "one", 1, {v: "1" for v in THREAD_VARIABLES}),
               _start(tmp_path, data, "two", 2, {v: "2" for v in THREAD_VARIABLES}),
               _start(tmp_path, data, "other_cpu", 2, {**{v: "2" for v in THREAD_VARIABLES}, **OTHER_CPU_ENV})]
    one, two, other = (_finish(s) for s in started)
    # everything else is identical: JSON values, tables, the XGBoost model, the skops and array parts
    assert compare.run_differences(one, two) == ["manifest.json.settings.n_jobs: 1 != 2"]

    # Another CPU rounds some sums in its own order: the fitted scaler's means and the
    # logistic baseline differ in their last bits (their skops files), and so may figures
    # computed from them, within 1e-9; every segment, size, label and projection point matches.
    assert set(compare.run_differences(two, other, rel_tol=1e-9)) <= {
        "segmenter_preprocessor.skops: the fitted objects differ", "baseline.skops: the fitted objects differ"}
    a, b = (store.load_run(p.parents[1], p.name).segmenter() for p in (two, other))
    np.testing.assert_array_equal(a.assigner_.ref_labels_, b.assigner_.ref_labels_)
    np.testing.assert_array_equal(a.assigner_.ref_Z_, b.assigner_.ref_Z_)   # the quantised inputs: bit for bit
    # without a tolerance: the scored table (segments, propensity, reasons), the projection, the matrix
    exact = compare.run_differences(two, other)
    assert not [d for d in exact if d.split(":")[0] in ("scored.parquet", "projection.parquet", "matrix.parquet")]
    scored = pd.read_parquet(two / "scored.parquet").set_index("customer_id").loc[table.loc[dup, "customer_id"]]
    assert scored["segment_id"].nunique() == 1 and scored["propensity"].nunique() == 1


_EMBED_SCRIPT = """
import hashlib
from core.inputs import validation
from core.inputs.shopsphere_spec import resolve_spec
from core.inputs.synthetic import shopsphere
from core.models.features import build_preprocessor, learn_categories
from core.models.segmentation import reducers
from core.models.segmentation.neighbours import quantize

spec = resolve_spec(None)
clean, _ = validation.validate(shopsphere.generate(50_000, seed=42), spec, require_target=True, source="t")
cols = list(spec.segmentation_columns)
Z = quantize(build_preprocessor(spec, cols, learn_categories(clean, spec), add_indicator=False)
             .fit_transform(clean[cols]))
print(hashlib.sha256(reducers.umap_many([(Z, 5, 15, 0.0, 1, 42)])[0].tobytes()).hexdigest())
"""


@pytest.mark.slow
def test_a_umap_fit_gives_the_same_embedding_whatever_the_blas_kernels_and_threads_of_its_process():
    """UMAP's spectral initialisation runs on OpenBLAS, whose kernels differ by CPU: at 50,000
    customers the default table's initial embedding differed with ``OPENBLAS_CORETYPE``
    Sandybridge and the kernels this CPU picks (the bootstrap ARI of the default run was
    0.81 on an Intel Xeon, 0.85 on an AMD EPYC), and with 1 and 2 BLAS threads. Every fit
    runs with the portable kernels (``reducers.PORTABLE_BLAS``) on one thread, so a process
    with 1 BLAS thread and this CPU's kernels and one with 2 threads, the Sandybridge kernels
    and numpy's baseline code agree. One epoch: the initialisation alone."""
    envs = [{"OPENBLAS_NUM_THREADS": "1"},
            {"OPENBLAS_NUM_THREADS": "2", "OPENBLAS_CORETYPE": "Sandybridge", "NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4"}]
    base = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS")}
    procs = [subprocess.Popen([sys.executable, "-c", _EMBED_SCRIPT], cwd=REPO, env={**base, **e},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for e in envs]
    hashes = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-1500:]
        hashes.append(out.strip().splitlines()[-1])
    assert len(set(hashes)) == 1
