"""One format per kind of figure, and never None or NaN."""
import math

import pytest

from core import formats as F


def test_each_kind_of_figure_has_its_format():
    assert F.count(240000) == "240,000" and F.count(2561.6) == "2,562"
    assert F.money(1605.3) == "$1,605" and F.money(12.4, "€") == "€12.40" and F.money(-120, "GBP ") == "-GBP 120"
    assert F.money(1_640_000, short=True) == "$1.6M" and F.money(310_400, short=True) == "$310K"
    assert F.money(9_999, short=True) == "$9,999"
    assert F.share(0.18) == "18.0%" and F.share(0.6712, 0) == "67%"
    assert F.points(0.012) == "+1.2 points" and F.points(-0.03) == "-3.0 points"
    assert F.times(2.437) == "2.4x" and F.score(0.87412) == "0.874"


@pytest.mark.parametrize("missing", [None, float("nan"), math.inf, "n/a"])
def test_a_missing_figure_is_a_blank(missing):
    for f in (F.count, F.money, F.share, F.points, F.times, F.score):
        assert f(missing) == F.BLANK


def test_currency_codes_become_symbols():
    assert F.currency_of("USD") == "$" and F.currency_of("eur") == "€" and F.currency_of("ZAR") == "ZAR "
    assert F.currency_of("€") == "€" and F.currency_of(None, "£") == "£" and F.currency_of("  ") == "$"
