"""Shared fixtures: small generated tables, small settings, one small trained run."""
from __future__ import annotations

import os
from pathlib import Path

# numba's portable target before anything imports numba: a test that imports shap compiles
# numba code, and UMAP's fits in this process must be compiled for the same target
# (core.models.segmentation.reducers.pin_numba_target)
os.environ["NUMBA_CPU_NAME"] = "generic"

import pytest  # noqa: E402

from core.inputs.synthetic import shopsphere  # noqa: E402
from core.settings import PropensitySettings, SegmentationSettings, Settings  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MARKETING = SHARED_DATA / "marketing_campaign.csv"
REPO = Path(__file__).resolve().parents[1]

# The fixtures fit one method (UMAP + HDBSCAN): "auto" fits all three, tested on its own.
SMALL_SETTINGS_TOML = """
seed = 7
n_jobs = 2
[segmentation]
method = "umap+hdbscan"
sample_size = 1500
n_neighbors = 15
reference_size = 1000
projection_size = 800
stability_resamples = 2
stability_size = 750
quality_sample = 1000
[propensity]
n_estimators = 300
learning_rate = 0.1
shap_sample = 500
tune_trials = 3
bootstrap_resamples = 200
"""


#: Fixtures that train a run: a test using any of them (directly or through another fixture)
#: is marked ``slow`` (``make test-fast`` skips those).
TRAINING_FIXTURES = {"trained", "two_runs", "run_with_empty_column", "log_run"}


def pytest_collection_modifyitems(config, items):
    """Mark every test that trains a run (through :data:`TRAINING_FIXTURES`) as slow."""
    for item in items:
        if TRAINING_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def small_settings(artifacts: Path) -> Settings:
    """Settings sized for a few thousand rows: fast enough for unit tests."""
    return Settings(
        seed=7, artifacts_dir=artifacts,
        segmentation=SegmentationSettings(method="umap+hdbscan", sample_size=1500, reference_size=1000,
                                          projection_size=800,
                                          stability_resamples=2, stability_size=750, quality_sample=1000),
        propensity=PropensitySettings(n_estimators=300, learning_rate=0.1, shap_sample=500, tune_trials=3,
                                      bootstrap_resamples=200),
    )


@pytest.fixture(scope="session")
def small_table():
    """4,000 generated ShopSphere customers (seed 3)."""
    return shopsphere.generate(4000, seed=3)


@pytest.fixture(scope="session")
def small_csv(tmp_path_factory, small_table):
    path = tmp_path_factory.mktemp("data") / "shop.csv"
    small_table.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def settings_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "settings.toml"
    path.write_text(SMALL_SETTINGS_TOML)
    return path


@pytest.fixture(scope="session")
def trained(tmp_path_factory, small_csv):
    """A run trained on the small table: (artifacts dir, Run)."""
    from core.pipeline.training import train

    art = tmp_path_factory.mktemp("artifacts")
    run = train(small_csv, None, small_settings(art))
    return art, run
