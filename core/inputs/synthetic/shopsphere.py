"""The embedded default: a realistic generator of ShopSphere's customer table.

ShopSphere's own table is private, so the product ships this generator as its default
data set. Same seed, same table. The generative model (documented in full in
``docs/design/synthetic.md``):

1. **Persona.** Each customer belongs to one of seven latent personas with fixed shares
   (:data:`PERSONAS`): loyal high-value, deal seeker, new explorer, occasional big spender,
   lapsing, window shopper, unhappy at-risk. A persona sets the parameters of every
   feature's distribution, so features are correlated through it.
2. **Engagement.** A per-customer latent ``z ~ N(0, 1)`` scales sessions, email opens and
   orders together (log-normal multipliers), so features also correlate inside a persona.
3. **Features.** Counts are Poisson with persona- and engagement-dependent means,
   ``email_clicks_90d ~ Binomial(opens, ctr)`` (never above opens),
   ``orders_90d ~ Binomial(orders_12m, share_recent)`` (never above orders_12m), order
   values are log-normal (long right tail), rates are Beta, ``csat_score`` is a rounded
   normal clipped to 1..5, demographics are categorical draws from persona-specific mixes.
4. **Missing values.** Exactly 3% of each demographic field (completely at random),
   exactly 6% of ``avg_session_duration`` (at random) and exactly 12% of ``csat_score``,
   chosen by a score that is higher for less engaged customers (fewer orders and
   sessions), so csat is missing more often for them (missing at random given behaviour).
5. **Purchase.** The log-odds of buying in the next 30 days are :func:`purchase_logit`, a
   function of the features *as written* (after blanking; a blank has its own effect), with
   nonlinear terms (exponential recency decay, thresholds) and interactions
   (recent visit x cart adds, discount use x email clicks, refunds x tickets, order value x
   recency), plus an unobserved intent term ``e ~ N(0, NOISE_SD^2)``. The persona acts only
   through the features it generates. The label is ``Bernoulli(sigmoid(logit + e))``.
6. **True propensity.** ``_true_propensity = E_e[sigmoid(logit + e)]``, the purchase
   probability given everything a model can see, with the unobserved intent averaged out
   by 32-point Gauss-Hermite quadrature (Abramowitz & Stegun 25.4.46). It is the ceiling a
   model can reach (the oracle).

The intercept :data:`INTERCEPT` was solved once so that the mean true propensity of a
240,000-row table is 0.18. These parameters are fixed: later work does not change them to
make a model look better.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from core.inputs.shopsphere_spec import AGE_BANDS, CHANNELS, DEVICES, INCOME_BANDS, REGIONS

PERSONAS = (
    "loyal_high_value",
    "deal_seeker",
    "new_explorer",
    "occasional_big_spender",
    "lapsing",
    "window_shopper",
    "unhappy_at_risk",
)
PERSONA_SHARES = np.array([0.12, 0.18, 0.14, 0.10, 0.18, 0.18, 0.10])


DEMOGRAPHIC_MISSING = 0.03
DURATION_MISSING = 0.06
CSAT_MISSING = 0.12
NOISE_SD = 1.0
#: Solved once (bisection on a 240,000-row table, seed 42) so that mean true propensity = 0.18.
INTERCEPT = -3.8611

# Per-persona parameters, in PERSONAS order.
_P = {
    "sessions": np.array([14.0, 8.0, 12.0, 3.0, 1.5, 10.0, 4.0]),
    "duration_s": np.array([420.0, 300.0, 360.0, 240.0, 150.0, 480.0, 200.0]),
    "pages": np.array([7.0, 6.0, 8.0, 4.0, 3.0, 10.0, 4.0]),
    "opens": np.array([20.0, 28.0, 10.0, 6.0, 4.0, 12.0, 8.0]),
    "ctr": np.array([0.25, 0.35, 0.15, 0.10, 0.05, 0.12, 0.08]),
    "visit_gap": np.array([4.0, 8.0, 5.0, 25.0, 70.0, 5.0, 20.0]),
    "cart_per_session": np.array([0.35, 0.30, 0.30, 0.50, 0.20, 0.15, 0.15]),
    "wishlist": np.array([3.0, 2.0, 4.0, 1.0, 0.3, 8.0, 1.0]),
    "push": np.array([0.60, 0.50, 0.45, 0.30, 0.20, 0.35, 0.25]),
    "orders": np.array([16.0, 9.0, 2.0, 2.5, 2.5, 0.6, 4.0]),
    "share_recent": np.array([0.35, 0.30, 0.70, 0.20, 0.03, 0.30, 0.15]),
    "aov": np.array([85.0, 45.0, 55.0, 260.0, 60.0, 50.0, 70.0]),
    "aov_sd": np.array([0.50, 0.45, 0.50, 0.60, 0.55, 0.50, 0.55]),
    "discount": np.array([0.10, 0.70, 0.30, 0.10, 0.25, 0.35, 0.30]),
    "items": np.array([2.5, 3.0, 1.8, 1.5, 2.0, 1.5, 2.0]),
    "tickets": np.array([0.8, 0.7, 0.4, 0.5, 0.3, 0.2, 3.5]),
    "refund": np.array([0.03, 0.05, 0.04, 0.06, 0.05, 0.04, 0.25]),
    "csat": np.array([4.5, 4.0, 4.1, 4.0, 3.6, 3.9, 2.2]),
}
# Demographic mixes: one row per persona, one column per level.
_AGE = np.array([
    [0.05, 0.20, 0.28, 0.25, 0.14, 0.08],
    [0.15, 0.30, 0.25, 0.15, 0.10, 0.05],
    [0.30, 0.35, 0.18, 0.10, 0.05, 0.02],
    [0.04, 0.15, 0.25, 0.28, 0.18, 0.10],
    [0.10, 0.22, 0.24, 0.20, 0.14, 0.10],
    [0.28, 0.32, 0.20, 0.10, 0.06, 0.04],
    [0.10, 0.22, 0.25, 0.20, 0.14, 0.09],
])
_REGION = np.array([
    [0.22, 0.18, 0.22, 0.24, 0.14],
    [0.18, 0.26, 0.18, 0.18, 0.20],
    [0.20, 0.20, 0.20, 0.25, 0.15],
    [0.25, 0.15, 0.25, 0.22, 0.13],
    [0.20, 0.22, 0.18, 0.18, 0.22],
    [0.20, 0.20, 0.22, 0.22, 0.16],
    [0.20, 0.22, 0.20, 0.18, 0.20],
])
_CHANNEL = np.array([
    [0.28, 0.10, 0.05, 0.12, 0.20, 0.03, 0.22],
    [0.10, 0.20, 0.10, 0.22, 0.05, 0.28, 0.05],
    [0.12, 0.25, 0.35, 0.05, 0.10, 0.05, 0.08],
    [0.25, 0.20, 0.08, 0.07, 0.15, 0.05, 0.20],
    [0.20, 0.20, 0.15, 0.15, 0.10, 0.10, 0.10],
    [0.15, 0.15, 0.40, 0.05, 0.10, 0.05, 0.10],
    [0.18, 0.22, 0.15, 0.10, 0.10, 0.15, 0.10],
])
_DEVICE = np.array([
    [0.50, 0.42, 0.08],
    [0.65, 0.28, 0.07],
    [0.75, 0.18, 0.07],
    [0.35, 0.50, 0.15],
    [0.55, 0.35, 0.10],
    [0.80, 0.12, 0.08],
    [0.55, 0.35, 0.10],
])
_INCOME = np.array([
    [0.10, 0.25, 0.35, 0.30],
    [0.35, 0.35, 0.20, 0.10],
    [0.30, 0.35, 0.25, 0.10],
    [0.05, 0.15, 0.35, 0.45],
    [0.25, 0.30, 0.28, 0.17],
    [0.35, 0.32, 0.22, 0.11],
    [0.25, 0.30, 0.28, 0.17],
])

# Gauss-Hermite nodes for E[f(X)], X ~ N(0, 1): E f = sum w_i f(sqrt(2) x_i) / sqrt(pi).
_GH_X, _GH_W = np.polynomial.hermite.hermgauss(32)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _choice_by_row(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """Draw one level index per row from the row's probability vector (n, k) -> (n,)."""
    cum = np.cumsum(probs, axis=1)
    cum[:, -1] = 1.0
    u = rng.random(len(probs))[:, None]
    return (u > cum).sum(axis=1)


def _blank_exact(rng: np.random.Generator, n: int, share: float) -> np.ndarray:
    """Boolean mask (n,) with exactly round(share * n) True values, chosen at random."""
    mask = np.zeros(n, dtype=bool)
    mask[rng.choice(n, size=int(round(share * n)), replace=False)] = True
    return mask


def purchase_logit(df: pd.DataFrame) -> np.ndarray:
    """Log-odds of a purchase in the next 30 days, from the features as written.

    Parameters
    ----------
    df : DataFrame with the 25 ShopSphere feature columns, n rows (blanks as NaN).

    Returns
    -------
    ndarray of shape (n,)
        ``INTERCEPT`` plus the terms below, without the unobserved intent noise. Recency
        in days, spend in currency units::

            + 0.60 log1p(orders_90d) + 0.25 log1p(orders_12m)
            - 1.50 (1 - exp(-days_since_last_order / 45))          # recency decay
            + 0.90 exp(-((days_since_last_order - 30) / 12)^2)     # replenishment bump
            + 1.40 [days_since_last_visit <= 7] min(cart_adds_30d, 6) / 6   # interaction
            - 0.70 [days_since_last_visit > 45]                     # threshold
            + 0.20 log1p(sessions_30d)
            - 0.80 [sessions_30d >= 15] [orders_12m = 0]            # browsers who never buy
            + 0.80 [discount_usage_rate > 0.5] log1p(email_clicks_90d)   # interaction
            + 0.50 push_opt_in [device_type = mobile]               # interaction
            - 2.00 refund_rate [tickets_12m >= 2]                   # interaction
            + 0.35 (csat_score - 3.5)   (csat blank: -0.25)
            + 0.10 log1p(wishlist_adds_90d)
            + 0.70 [avg_order_value > 150] [days_since_last_order < 120]
            + 0.15 [income_band = high] - 0.10 [income_band = low]
    """
    o90 = df["orders_90d"].to_numpy(float)
    o12 = df["orders_12m"].to_numpy(float)
    rec_o = df["days_since_last_order"].to_numpy(float)
    rec_v = df["days_since_last_visit"].to_numpy(float)
    cart = df["cart_adds_30d"].to_numpy(float)
    sessions = df["sessions_30d"].to_numpy(float)
    csat = df["csat_score"].to_numpy(float)
    income = df["income_band"].astype(object).to_numpy()
    mobile = df["device_type"].astype(object).to_numpy() == "mobile"
    eta = (
        INTERCEPT
        + 0.60 * np.log1p(o90)
        + 0.25 * np.log1p(o12)
        - 1.50 * (1.0 - np.exp(-rec_o / 45.0))
        + 0.90 * np.exp(-(((rec_o - 30.0) / 12.0) ** 2))
        + 1.40 * (rec_v <= 7) * np.minimum(cart, 6.0) / 6.0
        - 0.70 * (rec_v > 45)
        + 0.20 * np.log1p(sessions)
        - 0.80 * (sessions >= 15) * (o12 == 0)
        + 0.80 * (df["discount_usage_rate"].to_numpy(float) > 0.5) * np.log1p(df["email_clicks_90d"].to_numpy(float))
        + 0.50 * df["push_opt_in"].to_numpy(float) * mobile
        - 2.00 * df["refund_rate"].to_numpy(float) * (df["tickets_12m"].to_numpy(float) >= 2)
        + np.where(np.isnan(csat), -0.25, 0.35 * (np.nan_to_num(csat, nan=3.5) - 3.5))
        + 0.10 * np.log1p(df["wishlist_adds_90d"].to_numpy(float))
        + 0.70 * (df["avg_order_value"].to_numpy(float) > 150) * (rec_o < 120)
        + 0.15 * (income == "high")
        - 0.10 * (income == "low")
    )
    return eta


def true_propensity(logit: np.ndarray) -> np.ndarray:
    """``E[sigmoid(logit + e)]`` with ``e ~ N(0, NOISE_SD^2)``: shape (n,), values in (0, 1).

    32-point Gauss-Hermite quadrature (Abramowitz & Stegun 1964, eq. 25.4.46); the error is
    far below 1e-6 for these logits.
    """
    nodes = np.sqrt(2.0) * NOISE_SD * _GH_X
    return (_sigmoid(logit[:, None] + nodes[None, :]) @ _GH_W) / np.sqrt(np.pi)


def generate(rows: int = 240_000, seed: int = 42, month: int = 0) -> pd.DataFrame:
    """Generate a ShopSphere-like customer table.

    Parameters
    ----------
    rows : int
        Number of customers in month 0 (>= 100).
    seed : int
        Seed of the one ``numpy.random.Generator`` used; same seed, same table.
    month : int
        0: the table as always. N > 0: the same customers N months later (same ids):
        personas move by :data:`TRANSITIONS` (some lapse, some reactivate), engagement
        follows an AR(1), 1% leave and 2% join each month (new ids); features, purchases
        and true propensities are drawn afresh from the evolved latents with the same
        generative model. Month 0 is unchanged by this option.

    Returns
    -------
    DataFrame of shape (rows, 29)
        ``customer_id`` (text, "C0000001"...), the 25 features of
        :func:`core.inputs.shopsphere_spec.shopsphere_spec`, ``purchased_next_30d`` (0/1, about 18%
        positive) and the evaluation-only ``_persona`` and ``_true_propensity``.

    Raises
    ------
    ValueError
        ``rows`` below 100 or a negative ``month``.
    """
    if rows < 100:
        raise ValueError(f"rows must be at least 100, got {rows}")
    if not isinstance(month, (int, np.integer)) or month < 0:
        raise ValueError(f"month must be a whole number >= 0, got {month!r}")
    rng = np.random.default_rng(seed)
    n = rows
    persona = rng.choice(len(PERSONAS), size=n, p=PERSONA_SHARES)
    z = rng.standard_normal(n)  # engagement
    ids = np.arange(1, n + 1)
    if month > 0:  # month 0 keeps the one generator's draws, unchanged; later months evolve its latents
        persona, z, ids = _evolve(persona, z, ids, seed, month)
        rng = np.random.default_rng([seed, month, 1])
    return _draw(rng, persona, z, ids)


#: Monthly persona transitions (rows: from, columns: to; order of :data:`PERSONAS`): most
#: customers stay; loyal and big spenders drift towards lapsing, lapsing customers either
#: reactivate (deal seeker, explorer) or sour (unhappy), new explorers settle as loyal or
#: deal seekers or lapse, window shoppers sometimes start buying.
TRANSITIONS = np.array([
    # loyal  deal   new    big    laps   window unhappy
    [0.94, 0.01, 0.00, 0.00, 0.04, 0.00, 0.01],   # loyal_high_value
    [0.01, 0.93, 0.00, 0.00, 0.05, 0.00, 0.01],   # deal_seeker
    [0.05, 0.05, 0.80, 0.01, 0.05, 0.04, 0.00],   # new_explorer
    [0.01, 0.00, 0.00, 0.93, 0.05, 0.00, 0.01],   # occasional_big_spender
    [0.02, 0.04, 0.02, 0.01, 0.87, 0.01, 0.03],   # lapsing
    [0.00, 0.02, 0.03, 0.00, 0.03, 0.92, 0.00],   # window_shopper
    [0.00, 0.01, 0.00, 0.00, 0.08, 0.00, 0.91],   # unhappy_at_risk
])
MONTHLY_LEAVE = 0.01   # share of customers who close their account each month
MONTHLY_JOIN = 0.02    # new customers each month, as a share of the current base
NEW_CUSTOMER_SHARES = np.array([0.02, 0.15, 0.55, 0.03, 0.00, 0.22, 0.03])  # who joins
ENGAGEMENT_MEMORY = 0.9  # engagement z follows an AR(1): z' = 0.9 z + sqrt(1 - 0.81) e


def _evolve(persona: np.ndarray, z: np.ndarray, ids: np.ndarray, seed: int, months: int):
    """The latent state ``months`` months later: persona moves by :data:`TRANSITIONS`,
    engagement by an AR(1), :data:`MONTHLY_LEAVE` of customers leave and
    :data:`MONTHLY_JOIN` join (new ids after the largest so far), each month with its own
    seeded generator (``[seed, month]``), so month N extends month N-1."""
    for m in range(1, months + 1):
        r = np.random.default_rng([seed, m])
        u = r.random(len(persona))[:, None]
        persona = (u > np.cumsum(TRANSITIONS[persona], axis=1)).sum(axis=1).clip(0, len(PERSONAS) - 1)
        z = ENGAGEMENT_MEMORY * z + np.sqrt(1 - ENGAGEMENT_MEMORY ** 2) * r.standard_normal(len(z))
        stay = r.random(len(persona)) >= MONTHLY_LEAVE
        persona, z, ids = persona[stay], z[stay], ids[stay]
        k = int(round(MONTHLY_JOIN * len(persona)))
        persona = np.concatenate([persona, r.choice(len(PERSONAS), size=k, p=NEW_CUSTOMER_SHARES)])
        z = np.concatenate([z, r.standard_normal(k)])
        ids = np.concatenate([ids, ids.max() + 1 + np.arange(k)])
    return persona, z, ids


def _draw(rng: np.random.Generator, persona: np.ndarray, z: np.ndarray, ids: np.ndarray) -> pd.DataFrame:
    """Features, label and true propensity of customers with latent ``persona`` and
    engagement ``z`` (shape (n,)), drawn with ``rng`` (steps 3-6 of the module doc)."""
    n = len(persona)
    P = {k: v[persona] for k, v in _P.items()}

    sessions = rng.poisson(P["sessions"] * np.exp(0.45 * z - 0.1))
    duration = np.round(P["duration_s"] * np.exp(0.15 * z + 0.45 * rng.standard_normal(n)), 1)
    pages = np.round(1.0 + rng.gamma(2.0, (P["pages"] - 1.0) / 2.0), 2)
    opens = rng.poisson(P["opens"] * np.exp(0.35 * z - 0.06))
    clicks = rng.binomial(opens, P["ctr"])
    visit_gap = np.floor(rng.exponential(P["visit_gap"] * np.exp(-0.5 * z))).astype(int)
    cart = rng.poisson(P["cart_per_session"] * (sessions + 0.5))
    wishlist = rng.poisson(P["wishlist"] * np.exp(0.3 * z))
    push = (rng.random(n) < P["push"]).astype(int)

    orders_12m = rng.poisson(P["orders"] * np.exp(0.5 * z - 0.125))
    orders_90d = rng.binomial(orders_12m, P["share_recent"])
    has_order = orders_12m > 0
    aov = np.where(has_order, np.round(P["aov"] * np.exp(P["aov_sd"] * rng.standard_normal(n)), 2), 0.0)
    spend = np.round(orders_12m * aov, 2)
    gap_recent = np.minimum(np.floor(rng.exponential(90.0 / (orders_90d + 1.0))), 89)
    gap_year = 90 + np.floor(rng.random(n) * 275)
    gap_never = np.minimum(365 + np.floor(rng.exponential(300.0, n)), 3000)
    days_order = np.where(orders_90d > 0, gap_recent, np.where(has_order, gap_year, gap_never)).astype(int)
    days_visit = np.minimum(np.minimum(visit_gap, 730), days_order)
    a = 4.0
    discount = np.where(has_order, np.round(rng.beta(a * P["discount"], a * (1 - P["discount"])), 3), 0.0)
    categories = np.where(has_order, np.minimum(orders_12m, 1 + rng.poisson(0.6 * np.sqrt(orders_12m))), 0)
    items = np.where(has_order, np.round(1.0 + rng.gamma(1.5, (P["items"] - 1.0) / 1.5), 2), 0.0)
    tickets = rng.poisson(P["tickets"] * (1.0 + orders_12m / 10.0))
    refund = np.where(has_order, np.round(rng.beta(2.0 * P["refund"] / (1 - P["refund"]) + 0.05, 2.0), 3), 0.0)
    csat = np.clip(np.round(P["csat"] + 0.8 * rng.standard_normal(n)), 1, 5)

    df = pd.DataFrame({
        "customer_id": pd.Series(ids).map("C{:07d}".format),
        "age_band": np.array(AGE_BANDS, dtype=object)[_choice_by_row(rng, _AGE[persona])],
        "region": np.array(REGIONS, dtype=object)[_choice_by_row(rng, _REGION[persona])],
        "acquisition_channel": np.array(CHANNELS, dtype=object)[_choice_by_row(rng, _CHANNEL[persona])],
        "device_type": np.array(DEVICES, dtype=object)[_choice_by_row(rng, _DEVICE[persona])],
        "income_band": np.array(INCOME_BANDS, dtype=object)[_choice_by_row(rng, _INCOME[persona])],
        "sessions_30d": sessions,
        "avg_session_duration": duration,
        "pages_per_session": pages,
        "email_opens_90d": opens,
        "email_clicks_90d": clicks,
        "days_since_last_visit": days_visit,
        "cart_adds_30d": cart,
        "wishlist_adds_90d": wishlist,
        "push_opt_in": push,
        "orders_12m": orders_12m,
        "orders_90d": orders_90d,
        "total_spend_12m": spend,
        "avg_order_value": aov,
        "days_since_last_order": days_order,
        "discount_usage_rate": discount,
        "distinct_categories_12m": categories,
        "avg_items_per_order": items,
        "tickets_12m": tickets,
        "refund_rate": refund,
        "csat_score": csat,
    })
    for col in ("age_band", "region", "acquisition_channel", "device_type", "income_band"):
        df.loc[_blank_exact(rng, n, DEMOGRAPHIC_MISSING), col] = None
    df.loc[_blank_exact(rng, n, DURATION_MISSING), "avg_session_duration"] = np.nan
    # csat blanks: exactly 12%, picked by a score that is higher for less engaged customers.
    disengaged = -0.8 * np.log1p(orders_12m) - 0.4 * np.log1p(sessions) + rng.logistic(size=n)
    blank = np.zeros(n, dtype=bool)
    blank[np.argsort(-disengaged, kind="stable")[: int(round(CSAT_MISSING * n))]] = True
    df.loc[blank, "csat_score"] = np.nan

    eta = purchase_logit(df)
    df["purchased_next_30d"] = (rng.random(n) < _sigmoid(eta + NOISE_SD * rng.standard_normal(n))).astype(int)
    df["_persona"] = np.array(PERSONAS, dtype=object)[persona]
    # rounded to 6 decimals: numpy's exp has per-CPU SIMD code whose last bits differ
    # (some values come out a last bit apart with and without AVX-512), and the
    # table's hash, hence its runs' ids, should be the same on every machine
    df["_true_propensity"] = np.round(true_propensity(eta), 6)
    return df


def ensure_default_data(settings, progress=None):
    """Generate the default ShopSphere table at ``settings.default_data`` if it is absent
    (``settings.default_rows`` customers, ``settings.seed``), written to a temporary name
    and moved into place; returns its path."""
    import os
    from pathlib import Path

    path = Path(settings.default_data)
    if not path.exists():
        if progress:
            progress(0.0, f"generating the default ShopSphere table ({settings.default_rows:,} customers)")
        path.parent.mkdir(parents=True, exist_ok=True)
        df = generate(settings.default_rows, settings.seed)
        tmp = path.with_name(path.name + ".tmp")
        df.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    return path
