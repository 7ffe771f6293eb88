"""Fixtures of the models' tests: the small table validated, with its spec and categories."""
from __future__ import annotations

import pytest

from core.inputs.shopsphere_spec import shopsphere_spec
from core.inputs.validation import validate
from core.models.features import learn_categories
from core.models.segmentation import Segmenter
from tests.support import SEG


@pytest.fixture(scope="module")
def prepared(small_table):
    """``(spec, the small table validated, its categories)``."""
    spec = shopsphere_spec()
    clean, _ = validate(small_table, spec, require_target=True)
    return spec, clean, learn_categories(clean, spec)


@pytest.fixture(scope="module")
def segmenter(prepared):
    """A segmenter fitted on the small table (:data:`SEG`)."""
    spec, clean, cats = prepared
    return Segmenter(settings=SEG, random_state=1).fit(clean, spec, cats)
