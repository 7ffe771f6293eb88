"""What the tests share besides fixtures: paths, small settings, and :func:`slow_fixture`.

The real data sets live in ``../shared/data`` beside the project (read-only; never copied
into the repository); a test that needs one skips, with the reason, only where that folder
is absent.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.inputs.shopsphere_spec import shopsphere_spec
from core.inputs.synthetic import shopsphere
from core.settings import PropensitySettings, SegmentationSettings, Settings

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
MARKETING = SHARED_DATA / "marketing_campaign.csv"
CDNOW = SHARED_DATA / "cdnow_master.txt"

# The small settings fit one method (UMAP + HDBSCAN): "auto" fits all three, tested on its own.
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


#: Segmentation settings for the small table, for tests that fit a segmenter directly.
SEG = SegmentationSettings(sample_size=1500, reference_size=1000, projection_size=500,
                           stability_resamples=2, stability_size=750, quality_sample=1000)


def small_settings(artifacts: Path) -> Settings:
    """Settings sized for a few thousand rows (those of :data:`SMALL_SETTINGS_TOML`): fast
    enough for unit tests."""
    return Settings(
        seed=7, artifacts_dir=artifacts,
        segmentation=SegmentationSettings(method="umap+hdbscan", sample_size=1500, reference_size=1000,
                                          projection_size=800,
                                          stability_resamples=2, stability_size=750, quality_sample=1000),
        propensity=PropensitySettings(n_estimators=300, learning_rate=0.1, shap_sample=500, tune_trials=3,
                                      bootstrap_resamples=200),
    )


#: The fixtures defined with :func:`slow_fixture`: a test that uses one, directly or
#: through another fixture, is marked ``slow`` (``tests/conftest.py``).
SLOW_FIXTURES: set[str] = set()


def slow_fixture(*args, **kwargs):
    """``pytest.fixture`` for a fixture that trains a run (or starts a browser): every test
    using it is marked ``slow``, so ``make test-fast`` skips it. The mark is set here, where
    the fixture is defined, not in a list kept elsewhere."""
    def wrap(fn):
        SLOW_FIXTURES.add(fn.__name__)
        return pytest.fixture(*args, **kwargs)(fn)
    return wrap


def uniform_noise_table(rows: int, seed: int):
    """A generated ShopSphere table whose segmentation inputs are replaced by independent
    uniform noise (no cluster structure): ``rows`` customers, seeded."""
    rng = np.random.default_rng(seed)
    df = shopsphere.generate(rows, seed=seed)
    spec = shopsphere_spec()
    for c in spec.segmentation_columns:
        col = spec.column(c)
        lo, hi = (col.min or 0.0), (col.max if col.max is not None and col.max < 1000 else 100.0)
        df[c] = lo + (hi - lo) * rng.random(rows)
    return df
