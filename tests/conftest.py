"""Shared fixtures: small generated tables, small settings, one small trained run; and the
``slow`` mark of every test that uses a fixture defined with
:func:`tests.support.slow_fixture`."""
from __future__ import annotations

import os

# numba's portable target before anything imports numba: a test that imports shap compiles
# numba code, and UMAP's fits in this process must be compiled for the same target
# (core.models.segmentation.reducers.pin_numba_target)
os.environ["NUMBA_CPU_NAME"] = "generic"

import pytest  # noqa: E402

from core.inputs.synthetic import shopsphere  # noqa: E402
from core.pipeline.training import train  # noqa: E402
from tests.support import SLOW_FIXTURES, SMALL_SETTINGS_TOML, slow_fixture, small_settings  # noqa: E402


def pytest_collection_modifyitems(config, items):
    """Mark every test that uses a slow fixture (:data:`tests.support.SLOW_FIXTURES`) as slow."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


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


@slow_fixture(scope="session")
def trained(tmp_path_factory, small_csv):
    """A run trained on the small table: (artifacts dir, Run)."""
    art = tmp_path_factory.mktemp("artifacts")
    run = train(small_csv, None, small_settings(art))
    return art, run
