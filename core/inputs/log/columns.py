"""The spec columns of the log features: kinds, groups, labels, persona words and reason
templates, so every part of the product reads a log-built table as it reads a customer table."""
from __future__ import annotations

from core.inputs.log.spec import LogSpec
from core.inputs.log.sql import WINDOWS
from core.inputs.spec import ColumnSpec

#: Features judged on the validation snapshot before training (kept only when they help).
CANDIDATE_FEATURES = ("bgnbd_p_alive", "bgnbd_expected")


def column(name, kind, group, label, reason, unit="", high="", low="", lo=None, hi=None):
    return ColumnSpec(name, kind, group, unit=unit, label=label, high_name=high, low_name=low, min=lo, max=hi,
                      reason=reason)


def feature_columns(spec: LogSpec, channels: list[str], has_products: bool, has_categories: bool,
                    has_quantity: bool) -> tuple[ColumnSpec, ...]:
    """The spec columns of the log features (kinds, groups, labels, persona words, reasons),
    the BTYD columns aside (:func:`btyd_columns`)."""
    cur = spec.currency
    cols = [
        column("recency_days", "duration", "behavioral", "days since the last purchase", "Last purchase {value} days ago",
             "days", "Lapsed", "Recent", lo=0),
        column("tenure_days", "duration", "tenure", "days since the first purchase",
             "First purchase {value} days ago", "days", "Long-standing", "New", lo=0),
        column("frequency", "count", "transactional", "purchase days", "Bought on {value} days", "",
             "Loyal frequent buyers", "One-time buyers", lo=0),
        column("spend_total", "currency", "transactional", "net spend, all time", "Spent {value} in all", cur,
             "Big spenders", "Low spenders"),
        column("spend_mean", "currency", "transactional", "mean spend per purchase day",
             "Spends {value} per purchase", cur, "Big-basket", "Small-basket"),
        column("spend_max", "currency", "other", "largest purchase day", "Largest purchase {value}", cur),
    ]
    for w in WINDOWS:
        cols.append(column(f"purchases_{w}d", "count", "activity", f"purchase days in the last {w} days",
                         f"Bought on {{value}} days in the last {w} days", "", lo=0))
        cols.append(column(f"spend_{w}d", "currency", "activity", f"net spend in the last {w} days",
                         f"Spent {{value}} in the last {w} days", cur))
    cols += [
        column("gap_mean", "duration", "behavioral", "mean days between purchases", "Buys every {value} days on average",
             "days", "Slow-cycle", "Fast-cycle", lo=0),
        column("gap_sd", "duration", "behavioral", "spread of the days between purchases",
             "Gaps between purchases vary by {value} days", "days", "Irregular", "Regular", lo=0),
        column("overdue_ratio", "numeric", "behavioral", "days since the last purchase / mean gap",
             "Last purchase {value} x their usual gap ago", "", "Overdue", "On schedule", lo=0),
        column("trend", "numeric", "activity", "recent vs earlier purchases (-1..1)",
             "Trend of purchases {value} (-1 slowing, +1 growing)", "", "Growing", "Slowing", lo=-1, hi=1),
        column("return_share", "rate", "support", "share of lines returned", "Returned {value} of lines", "share",
             "Returners", "", lo=0, hi=1),
        column("lines_per_purchase", "count", "other", "lines per purchase day", "{value} lines per purchase",
             "", lo=0),
    ]
    if has_quantity:
        cols.append(column("units_per_purchase", "count", "other", "units per purchase day",
                         "{value} units per purchase", "", "Bulk buyers", "", lo=0))
    if has_products:
        cols.append(column("distinct_products", "count", "transactional", "distinct products bought",
                         "Bought {value} different products", "", "Broad-range", "Narrow-range", lo=0))
    if has_categories:
        cols.append(column("distinct_categories", "count", "transactional", "distinct categories bought",
                         "Bought in {value} categories", "", "Multi-category", "Single-category", lo=0))
    for i, c in enumerate(channels):
        # group "other": model inputs and profiles, but not segmentation inputs (near-binary
        # shares would split customers by channel before behaviour)
        cols.append(column(f"channel_share_{i}", "rate", "other", f"share of lines bought via {c}",
                         f"Bought {{value}} of lines via {c}", "share", f"{c}-first", "", lo=0, hi=1))
    return tuple(cols)


def btyd_columns(spec: LogSpec) -> tuple[ColumnSpec, ...]:
    """The spec columns of the BTYD candidate features (:data:`CANDIDATE_FEATURES`), which
    :func:`core.models.btyd.fit_at_cutoffs` computes at each cutoff."""
    return (
        column("bgnbd_p_alive", "rate", "activity", "BG/NBD probability of being still active",
               "BG/NBD: {value} likely still active", "share", "Active", "Dormant", lo=0, hi=1),
        column("bgnbd_expected", "numeric", "activity", f"BG/NBD expected purchases in {spec.horizon_days} days",
               f"BG/NBD expects {{value}} purchases in {spec.horizon_days} days", "", lo=0),
    )
