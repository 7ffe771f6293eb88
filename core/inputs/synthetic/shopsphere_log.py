"""The embedded default log: a ShopSphere-like order log, so the log path runs on a fresh
machine without any data set of its own.

Same seed, same log. The generative model, in the order it is drawn:

1. **Customers** join over the log's span (more later: the base grows), and place their
   first order on the day they join. Each has a **type** (:data:`TYPES`): *steady* (Poisson
   orders at a personal rate, the BG/NBD world), *replenisher* (orders every ``g`` days
   with a few days' jitter: pet food, contact lenses), *seasonal gifter* (most orders in
   November and December) and *bargain hunter* (small baskets, many returns, app-first).
2. **Rates.** A personal daily order rate ``lambda ~ Gamma`` (heterogeneity as in
   BG/NBD), times a month-of-year **seasonality** (:data:`SEASON`, a November-December
   peak) and a weekday profile.
3. **Lapse and return.** Activity is a two-state Markov chain over 30-day periods:
   active customers lapse with a personal probability (higher for customers who return a
   lot, lower for multi-category buyers); lapsed customers come back with a personal
   probability, so customers lapse and return instead of dying once. Lapsed customers
   still order, rarely (3% of their rate).
4. **Orders to lines.** Lines per order ``1 + Poisson(basket)``; each line's category is the
   customer's favourite with probability 0.5, else drawn from the category mix; the product
   is Zipf-distributed within its category; the unit price is the category's price level
   times the customer's price level times a log-normal; quantity ``1 + Poisson(0.25)``; the
   channel is the customer's favourite with probability 0.75.
5. **Returns.** Each line is returned with the customer's return probability, as a line
   3 to 30 days later with negative quantity (the same order id); returns after the log's
   end are not in it.

Columns: ``order_id``, ``customer_id``, ``ordered_at`` (timestamp, local time), ``product_id``,
``category``, ``channel``, ``quantity`` (negative for a return), ``unit_price``. The
customer attributes table (:func:`attributes`) has ``customer_id``, ``signup_date``,
``age_band`` and ``region``, with 3% of each demographic blank. ``configs/shopsphere_log.toml``
is its log spec.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

START = pd.Timestamp("2024-01-01")
DAYS = 731  # 2024-01-01 .. 2025-12-31
PERIOD = 30
TYPES = ("steady", "replenisher", "seasonal", "bargain")
TYPE_SHARES = np.array([0.55, 0.15, 0.15, 0.15])
CATEGORIES = ("electronics", "fashion", "home", "beauty", "grocery", "toys", "sports", "books")
CATEGORY_MIX = np.array([0.10, 0.22, 0.14, 0.12, 0.16, 0.08, 0.10, 0.08])
CATEGORY_PRICE = np.array([120.0, 38.0, 45.0, 22.0, 9.0, 25.0, 40.0, 14.0])
CHANNELS = ("web", "app", "marketplace", "store")
CHANNEL_MIX = np.array([0.45, 0.30, 0.15, 0.10])
#: Order-rate multiplier by month of year (January first).
SEASON = np.array([0.80, 0.80, 0.90, 0.95, 1.00, 0.95, 0.90, 0.95, 1.00, 1.05, 1.40, 1.70])
WEEKDAY = np.array([0.95, 0.95, 1.0, 1.0, 1.05, 1.05, 1.0])
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
REGIONS = ("north", "south", "east", "west", "central")
LAPSED_RATE = 0.03


def _customers(rng: np.random.Generator, n: int) -> pd.DataFrame:
    kind = rng.choice(len(TYPES), size=n, p=TYPE_SHARES)
    # joins grow over time: density proportional to 1 + day / DAYS; the last 45 days stay empty of joins
    u = rng.random(n)
    span = DAYS - 45
    join = np.floor(span * (np.sqrt(1 + 3 * u) - 1)).astype(np.int64)  # inverse CDF of 1 + x on [0, 1]
    rate = rng.gamma(0.9, 1 / 0.9, n) / 60.0           # mean one order in 60 days while active
    rate[kind == 2] *= 0.5
    rate[kind == 3] *= 1.3
    gap = np.where(kind == 1, rng.choice([14, 21, 28, 30, 45, 60], size=n), 0)
    basket = np.where(kind == 3, 0.2, rng.gamma(2.0, 0.25, n))
    ret = rng.beta(1.0, 14.0, n)
    ret[kind == 3] = rng.beta(3.0, 8.0, int((kind == 3).sum()))
    fav_cat = rng.choice(len(CATEGORIES), size=n, p=CATEGORY_MIX)
    fav_cat[kind == 1] = rng.choice([3, 4], size=int((kind == 1).sum()))  # beauty, grocery
    breadth = rng.beta(2.0, 2.0, n)                    # share of lines outside the favourite category
    fav_chan = rng.choice(len(CHANNELS), size=n, p=CHANNEL_MIX)
    fav_chan[kind == 3] = 1                            # app
    price = rng.lognormal(0.0, 0.35, n)
    lapse = np.clip(rng.beta(1.2, 9.0, n) * (1 + 2.5 * ret) * (1.3 - 0.6 * breadth), 0.003, 0.6)
    back = rng.beta(1.0, 9.0, n)
    return pd.DataFrame({"kind": kind, "join": join, "rate": rate, "gap": gap, "basket": basket, "ret": ret,
                         "fav_cat": fav_cat, "breadth": breadth, "fav_chan": fav_chan, "price": price,
                         "lapse": lapse, "back": back})


def _active(rng: np.random.Generator, c: pd.DataFrame) -> np.ndarray:
    """Active (True) or lapsed per customer and 30-day period, shape (n, periods)."""
    n, periods = len(c), DAYS // PERIOD + 1
    state = np.zeros((n, periods), dtype=bool)
    join_p = (c["join"].to_numpy() // PERIOD)
    alive = np.zeros(n, dtype=bool)
    lapse, back = c["lapse"].to_numpy(), c["back"].to_numpy()
    for p in range(periods):
        u = rng.random(n)
        alive = np.where(alive, u >= lapse, u < back)
        alive[join_p == p] = True
        state[:, p] = alive & (join_p <= p)
    return state


def _order_days(rng: np.random.Generator, c: pd.DataFrame, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(customer index, day) of every order, sorted by customer then day."""
    n, periods = active.shape
    join = c["join"].to_numpy()
    kind = c["kind"].to_numpy()
    period_start = np.arange(periods) * PERIOD
    month = (START + pd.to_timedelta(period_start + PERIOD // 2, unit="D")).month.to_numpy() - 1
    season = SEASON[month][None, :].repeat(n, axis=0)
    seasonal = kind == 2
    season[seasonal] = np.where(np.isin(month, [10, 11]), 4.0, 0.35)[None, :]
    lam = c["rate"].to_numpy()[:, None] * PERIOD * season * np.where(active, 1.0, LAPSED_RATE)
    lam[(kind == 1)[:, None] & active] = 0.0  # active replenishers order periodically (below)
    counts = rng.poisson(lam)
    ci, pi = np.nonzero(counts)
    reps = counts[ci, pi]
    cust = np.repeat(ci, reps)
    day = np.repeat(period_start[pi], reps) + rng.integers(0, PERIOD, size=int(reps.sum()))
    # replenishers: every g days with jitter while active
    rep = np.flatnonzero(kind == 1)
    gap = c["gap"].to_numpy()[rep]
    k = np.arange(DAYS // 14 + 2)
    days_r = join[rep, None] + k[None, :] * gap[:, None] + np.rint(rng.normal(0, 2.0, (len(rep), len(k)))).astype(int)
    days_r[:, 0] = join[rep]
    ok = (days_r >= join[rep, None]) & (days_r < DAYS)
    per = np.clip(days_r // PERIOD, 0, periods - 1)
    ok &= active[rep[:, None], per]
    r_idx, k_idx = np.nonzero(ok)
    cust = np.concatenate([cust, rep[r_idx], np.arange(n)])
    day = np.concatenate([day, days_r[r_idx, k_idx], join])    # everyone's first order on the join day
    keep = (day >= join[cust]) & (day < DAYS)
    cust, day = cust[keep], day[keep]
    # the weekday profile: thin orders on quieter weekdays
    wd = (START.day_of_week + day) % 7
    keep = rng.random(len(day)) < WEEKDAY[wd] / WEEKDAY.max()
    keep |= day == join[cust]
    cust, day = cust[keep], day[keep]
    order = np.lexsort((day, cust))
    return cust[order], day[order]


def generate_log(customers: int = 40_000, seed: int = 42) -> pd.DataFrame:
    """A ShopSphere-like order log of ``customers`` customers over 2024-01-01..2025-12-31
    (model in the module docstring). One row per order line or return line, sorted by
    time; about 8.5 lines per customer. Raises ValueError for fewer than 100 customers."""
    if customers < 100:
        raise ValueError(f"customers must be at least 100, got {customers}")
    rng = np.random.default_rng(seed)
    c = _customers(rng, customers)
    active = _active(rng, c)
    cust, day = _order_days(rng, c, active)
    n_orders = len(cust)
    lines = 1 + rng.poisson(c["basket"].to_numpy()[cust])
    oi = np.repeat(np.arange(n_orders), lines)
    lc = cust[oi]
    n_lines = len(oi)
    fav = c["fav_cat"].to_numpy()[lc]
    other = rng.choice(len(CATEGORIES), size=n_lines, p=CATEGORY_MIX)
    cat = np.where(rng.random(n_lines) < 1 - c["breadth"].to_numpy()[lc] * 0.5, fav, other)
    prod = cat * 1000 + np.minimum(rng.zipf(1.6, n_lines), 999)
    unit = np.round(CATEGORY_PRICE[cat] * c["price"].to_numpy()[lc] * rng.lognormal(0, 0.45, n_lines), 2)
    unit = np.maximum(unit, 0.5)
    qty = 1 + rng.poisson(0.25, n_lines)
    chan = np.where(rng.random(n_orders) < 0.75, c["fav_chan"].to_numpy()[cust],
                    rng.choice(len(CHANNELS), size=n_orders, p=CHANNEL_MIX))[oi]
    seconds = np.clip(rng.normal(15.5 * 3600, 4 * 3600, n_orders), 0, 86_399).astype(np.int64)[oi]
    order_id = np.arange(1, n_orders + 1)[oi]
    line_day = day[oi]
    # returns
    r = rng.random(n_lines) < c["ret"].to_numpy()[lc]
    r_day = line_day[r] + rng.integers(3, 31, int(r.sum()))
    in_log = r_day < DAYS
    ri = np.flatnonzero(r)[in_log]
    all_idx = np.concatenate([np.arange(n_lines), ri])
    all_day = np.concatenate([line_day, r_day[in_log]])
    all_qty = np.concatenate([qty, -qty[ri]])
    all_sec = np.concatenate([seconds, rng.integers(8 * 3600, 20 * 3600, len(ri))])
    ts = START + pd.to_timedelta(all_day * 86_400 + all_sec, unit="s")
    df = pd.DataFrame({
        "order_id": pd.Series(order_id[all_idx]).map("SO{:08d}".format).to_numpy(),
        "customer_id": pd.Series(lc[all_idx] + 1).map("C{:07d}".format).to_numpy(),
        "ordered_at": ts,
        "product_id": pd.Series(prod[all_idx]).map("P{:05d}".format).to_numpy(),
        "category": np.asarray(CATEGORIES)[cat[all_idx]],
        "channel": np.asarray(CHANNELS)[chan[all_idx]],
        "quantity": all_qty.astype(np.int64),
        "unit_price": unit[all_idx],
    })
    # two lines alike in every column would read as one line exported twice
    df = df.drop_duplicates()
    return df.sort_values(["ordered_at", "order_id"], kind="stable").reset_index(drop=True)


def attributes(customers: int = 40_000, seed: int = 42) -> pd.DataFrame:
    """The customer attributes of :func:`generate_log`'s customers (same ``customers`` and
    ``seed``): ``customer_id``, ``signup_date`` (the join day, a date), ``age_band`` and
    ``region`` (3% blank each). Shape (customers, 4)."""
    rng = np.random.default_rng(seed)
    c = _customers(rng, customers)
    arng = np.random.default_rng([seed, 1])
    age = np.asarray(AGE_BANDS, dtype=object)[arng.choice(len(AGE_BANDS), customers,
                                                            p=[0.12, 0.27, 0.24, 0.17, 0.12, 0.08])]
    region = np.asarray(REGIONS, dtype=object)[arng.integers(0, len(REGIONS), customers)]
    # bargain hunters skew young, replenishers older: attributes carry some signal
    age[(c["kind"] == 3).to_numpy() & (arng.random(customers) < 0.4)] = "18-24"
    age[(c["kind"] == 1).to_numpy() & (arng.random(customers) < 0.3)] = "45-54"
    for col in (age, region):
        col[arng.choice(customers, int(round(0.03 * customers)), replace=False)] = None
    return pd.DataFrame({"customer_id": [f"C{i + 1:07d}" for i in range(customers)],
                         "signup_date": (START + pd.to_timedelta(c["join"], unit="D")).dt.date.astype(str),
                         "age_band": age, "region": region})
