"""Numbers as people read them: one format per kind of figure, for the pages and the report.

- counts: thousands separators (``240,000``);
- money: the currency of the settings, separators, no cents above 100 (``$1,605``,
  ``$12.40``), thousands and millions shortened only where asked (``$1.6M``);
- shares and rates: percentages with one decimal (``18.0%``), points for differences of
  percentages (``+1.2 points``);
- propensities: percentages too (``67.3%``), never a bare 0.673;
- ratios: ``2.4x``.

A missing value is never shown as None or NaN: every function returns :data:`BLANK` (an en
dash) for it, and the page says why where it matters.
"""
from __future__ import annotations

import math

#: What a missing figure shows.
BLANK = "–"


def _missing(x) -> bool:
    try:
        return x is None or not math.isfinite(float(x))
    except (TypeError, ValueError):
        return True


def count(x) -> str:
    """A count with thousands separators: ``240000`` -> ``240,000``; ``2561.6`` -> ``2,562``."""
    return BLANK if _missing(x) else f"{round(float(x)):,}"


def money(x, currency: str = "$", short: bool = False) -> str:
    """Money in ``currency`` (a symbol or a code with its space, as the settings hold it):
    ``1605.3`` -> ``$1,605``; below 100 with cents (``$12.40``); ``short``: ``$1.6M``,
    ``$310K``. Negative amounts put the sign first (``-$120``)."""
    if _missing(x):
        return BLANK
    v = float(x)
    sign, v = ("-" if v < 0 else ""), abs(v)
    if short and v >= 1e6:
        body = f"{v / 1e6:,.1f}M"
    elif short and v >= 1e4:
        body = f"{v / 1e3:,.0f}K"
    else:
        body = f"{v:,.2f}" if v < 100 else f"{v:,.0f}"
    return f"{sign}{currency}{body}"


def share(x, digits: int = 1) -> str:
    """A share or rate (0..1) as a percentage: ``0.18`` -> ``18.0%``."""
    return BLANK if _missing(x) else f"{100 * float(x):.{digits}f}%"


def points(x, digits: int = 1) -> str:
    """A difference of two rates (0..1) in percentage points, signed: ``0.012`` -> ``+1.2 points``."""
    return BLANK if _missing(x) else f"{100 * float(x):+.{digits}f} points"


def times(x) -> str:
    """A ratio: ``2.437`` -> ``2.4x``."""
    return BLANK if _missing(x) else f"{float(x):.1f}x"


def score(x) -> str:
    """A model quality figure in 0..1 (ROC-AUC, PR-AUC): three decimals, ``0.874``."""
    return BLANK if _missing(x) else f"{float(x):.3f}"


#: Symbols of common ISO 4217 currency codes; another code is shown as itself and a space.
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CNY": "¥", "INR": "₹", "KRW": "₩", "BRL": "R$",
           "AUD": "A$", "CAD": "C$", "CHF": "CHF ", "SEK": "SEK ", "NOK": "NOK ", "DKK": "DKK ", "PLN": "zł "}


def currency_of(code: str | None, default: str = "$") -> str:
    """The prefix money is shown with: the symbol of an ISO code (``USD`` -> ``$``), another
    code with a space (``ZAR`` -> ``ZAR ``), a symbol as given (``€``), ``default`` for none."""
    text = (code or "").strip()
    if not text:
        return default
    if text.upper() in SYMBOLS:
        return SYMBOLS[text.upper()]
    return text + " " if text.isalpha() and len(text) == 3 else text
