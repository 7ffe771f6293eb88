"""The built-in spec of ShopSphere's customer table (the embedded default data) and its
category levels, which the generator draws from; :func:`resolve_spec` picks a spec file or
this one."""
from __future__ import annotations

from pathlib import Path

from core.inputs.spec import ColumnSpec, DatasetSpec, load_spec

AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
REGIONS = ("north", "south", "east", "west", "central")
CHANNELS = ("organic_search", "paid_search", "social", "email", "referral", "affiliate", "direct")
DEVICES = ("mobile", "desktop", "tablet")
INCOME_BANDS = ("low", "lower_middle", "upper_middle", "high")


def _c(name, kind, group, unit="", label="", high="", low="", lo=None, hi=None, rule="missing", cats=None, why=""):
    return ColumnSpec(name=name, kind=kind, group=group, unit=unit, label=label, high_name=high, low_name=low,
                      min=lo, max=hi, out_of_range=rule, categories=cats, reason=why)


def shopsphere_spec() -> DatasetSpec:
    """The built-in spec of the ShopSphere customer table (25 features, 4 groups).

    Matches the table written by :func:`core.inputs.synthetic.shopsphere.generate`. Target
    ``purchased_next_30d``; evaluation-only columns ``_persona`` and ``_true_propensity``.
    """
    D, B, T, S = "demographics", "behavioral", "transactional", "support"
    cols = (
        _c("age_band", "categorical", D, label="age band", cats=AGE_BANDS, why="Age band {value}"),
        _c("region", "categorical", D, label="region", cats=REGIONS, why="Lives in the {value} region"),
        _c("acquisition_channel", "categorical", D, label="acquisition channel", cats=CHANNELS, why="Joined through {value}"),
        _c("device_type", "categorical", D, label="main device", cats=DEVICES, why="Shops mainly on {value}"),
        _c("income_band", "categorical", D, label="income band", cats=INCOME_BANDS, why="Income band {value}"),
        _c("sessions_30d", "count", B, "sessions", "sessions in the last 30 days", "Frequent visitors", "Rare visitors", 0, None, why="{value} sessions in the last 30 days"),
        _c("avg_session_duration", "duration", B, "seconds", "average session length", "Long-browsing", "Quick-visit", 0, 86400, why="Sessions last {value} seconds on average"),
        _c("pages_per_session", "numeric", B, "pages", "pages per session", "Deep-browsing", "Shallow-browsing", 0, 500, why="Views {value} pages per session"),
        _c("email_opens_90d", "count", B, "emails", "email opens in 90 days", "Email-engaged", "Email-ignoring", 0, None, why="Opened {value} emails in 90 days"),
        _c("email_clicks_90d", "count", B, "clicks", "email clicks in 90 days", "Email-clicking", "Non-clicking", 0, None, why="Clicked {value} emails in 90 days"),
        _c("days_since_last_visit", "duration", B, "days", "days since the last visit", "Long-absent", "Recently active", 0, 3650, why="Last visit {value} days ago"),
        _c("cart_adds_30d", "count", B, "items", "cart adds in 30 days", "Cart-filling", "Cart-avoiding", 0, None, why="Added {value} items to cart in 30 days"),
        _c("wishlist_adds_90d", "count", B, "items", "wishlist adds in 90 days", "Wishlisting", "Non-wishlisting", 0, None, why="Wishlisted {value} items in 90 days"),
        _c("push_opt_in", "binary", B, "", "opted in to push", "Push-subscribed", "Push-off", 0, 1, why="Push notifications: {value}"),
        _c("orders_12m", "count", T, "orders", "orders in the last 12 months", "Frequent buyers", "Rare buyers", 0, None, why="Ordered {value} times in the last 12 months"),
        _c("orders_90d", "count", T, "orders", "orders in the last 90 days", "Recent buyers", "No recent orders", 0, None, why="Ordered {value} times in the last 90 days"),
        _c("total_spend_12m", "currency", T, "currency", "spend in the last 12 months", "Big spenders", "Low spenders", 0, None, "clip", why="Spent {value} in the last 12 months"),
        _c("avg_order_value", "currency", T, "currency", "average order value", "Big-basket", "Small-basket", 0, None, "clip", why="Average order value {value}"),
        _c("days_since_last_order", "duration", T, "days", "days since the last order", "Lapsed", "Just-ordered", 0, 3650, why="Last order {value} days ago"),
        _c("discount_usage_rate", "rate", T, "share", "share of orders with a discount", "Deal-seeking", "Full-price", 0, 1, "clip", why="Used a discount on {value} of orders"),
        _c("distinct_categories_12m", "count", T, "categories", "distinct categories bought", "Multi-category", "Single-category", 0, None, why="Bought from {value} categories"),
        _c("avg_items_per_order", "numeric", T, "items", "items per order", "Bulk-buying", "Single-item", 0, 1000, why="{value} items per order"),
        _c("tickets_12m", "count", S, "tickets", "support tickets in 12 months", "Support-heavy", "Trouble-free", 0, None, why="{value} support tickets in 12 months"),
        _c("refund_rate", "rate", S, "share", "share of orders refunded", "Refund-prone", "Refund-free", 0, 1, "clip", why="Refunded {value} of orders"),
        _c("csat_score", "numeric", S, "points (1-5)", "satisfaction score", "Satisfied", "Dissatisfied", 1, 5, why="Satisfaction score {value} of 5"),
    )
    return DatasetSpec(
        name="shopsphere",
        id_column="customer_id",
        target="purchased_next_30d",
        columns=cols,
        segmentation_groups=(B, T, S),
        evaluation_columns=("_persona", "_true_propensity"),
        target_label="bought in the next 30 days",
        value_column="total_spend_12m",
        recency_column="days_since_last_order",
        order_value_column="avg_order_value",
        discount_column="discount_usage_rate",
    )


def resolve_spec(spec_path: str | Path | None) -> DatasetSpec:
    """The spec in ``spec_path`` (:func:`load_spec`), or the built-in ShopSphere spec when None."""
    return load_spec(spec_path) if spec_path else shopsphere_spec()
