"""Same data, seed and library versions: the same run, whatever the thread counts and
process pools of the machine (issue 16, item 2)."""
import os
import subprocess
import sys

import pytest

from core import registry
from tests.conftest import REPO, SMALL_SETTINGS_TOML

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


@pytest.mark.slow
def test_two_trainings_in_separate_processes_with_different_threads_and_pools_match(tmp_path, small_table):
    data = tmp_path / "customers.parquet"
    small_table.to_parquet(data, index=False)
    runs = []
    for threads, n_jobs in ((1, 1), (2, 2)):
        settings = tmp_path / f"settings_{n_jobs}.toml"
        settings.write_text(SMALL_SETTINGS_TOML.replace("n_jobs = 2", f"n_jobs = {n_jobs}"))
        env = {**os.environ, **{v: str(threads) for v in THREAD_VARIABLES}}
        artifacts = tmp_path / f"artifacts_{n_jobs}"
        out = subprocess.run([sys.executable, "-m", "core", "--settings", str(settings), "--artifacts", str(artifacts),
                              "train", "--data", str(data)], cwd=REPO, env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-2000:]
        runs.append(registry.load_run(artifacts).path)
    # everything else is identical: JSON values, tables, the XGBoost model, the pickled parts
    assert registry.run_differences(*runs) == ["manifest.json.settings.n_jobs: 1 != 2"]
