"""Each customer's expected orders and spend over a horizon (predicted CLV), learned from a
log's snapshots, and the buy-till-you-die peers it is judged against.

- Outcomes (:func:`window_outcomes`): for a cutoff ``c`` and a horizon ``h`` days, a
  customer's orders are their purchase days in ``[c, c + h)`` (days with net spend above 0,
  as the log's features count purchases) and their spend is the net money of those days'
  lines and of any returns in the window, floored at 0.
- Peers (:func:`peer_values`): BG/NBD (Fader, Hardie & Lee 2005) and Pareto/NBD
  (Schmittlein, Morrison & Colombo 1987; :mod:`core.models.pareto_nbd`) for the expected
  orders, each times the Gamma-Gamma expected spend per order (Fader, Hardie & Lee 2005,
  "RFM and CLV"); fitted on the histories before the cutoff alone.
- The product (:class:`ValueModel`): gradient-boosted trees (XGBoost) on the snapshot
  features and the peers' figures, one for the spend (Tweedie deviance, variance power 1.5:
  a point mass at 0 and a long right tail, as spend in a window has; XGBoost's
  ``reg:tweedie``) and one for the orders (Poisson deviance, ``count:poisson``), each
  trained on the snapshots whose window ends before the cutoff it predicts at.
- Horizons longer than the log allows training for (:func:`horizon_ratio`): the prediction at
  the longest trainable horizon ``h``, times the BG/NBD ratio of expected orders over ``H``
  and over ``h`` for that customer (the peer's time shape; its spend per order is the same at
  both horizons).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.errors import DataError
from core.models.btyd import BGNBD, GammaGamma, _fit_rows
from core.models.pareto_nbd import ParetoNBD, paretonbd_log_likelihood


def window_outcomes(ev: pd.DataFrame, cutoffs: list[int], horizon: int) -> pd.DataFrame:
    """Orders and spend of every customer with a line in ``[cutoff, cutoff + horizon)``, for
    each cutoff (day numbers). ``ev`` as :func:`core.inputs.log.events.events` returns it.

    Returns a DataFrame with ``cutoff`` (int), ``customer_id`` (text), ``orders`` (purchase
    days: net spend above 0), ``spend`` (net money in the window, floored at 0) and
    ``first_order_days`` (days from the cutoff to the first purchase day in the window, NaN
    without one); customers without a line in a window are absent (their outcome is 0).
    Raises DataError for a horizon below 1 day."""
    if horizon < 1:
        raise DataError(f"a value horizon of {horizon} days: it must be at least 1 day")
    days = (ev.assign(customer_id=ev["customer_id"].astype(str))
            .groupby(["customer_id", "day"], observed=True, sort=False)["amount"].sum().reset_index())
    out = []
    for cut in cutoffs:
        w = days[(days["day"] >= cut) & (days["day"] < cut + horizon)]
        bought = w["amount"] > 0
        g = w.assign(purchase=bought.astype(int), buy_day=(w["day"] - cut).where(bought)).groupby("customer_id", sort=True)
        agg = g.agg(orders=("purchase", "sum"), spend=("amount", "sum"), first_order_days=("buy_day", "min")).reset_index()
        agg["spend"] = agg["spend"].clip(lower=0.0)
        agg.insert(0, "cutoff", int(cut))
        out.append(agg)
    return pd.concat(out, ignore_index=True)


def attach_outcomes(table: pd.DataFrame, cutoff_days: np.ndarray, outcomes: pd.DataFrame) -> pd.DataFrame:
    """``orders``, ``spend`` and ``first_order_days`` of :func:`window_outcomes` for each row
    of a snapshot table (``customer_id`` and its cutoff ``cutoff_days``, shape (n,)), 0 (NaN
    for the days) where the customer had no line in the window. Returns a DataFrame of shape
    (n, 3) on ``table``'s index."""
    key = pd.DataFrame({"cutoff": np.asarray(cutoff_days).astype(int), "customer_id": table["customer_id"].astype(str).to_numpy()})
    joined = key.merge(outcomes, on=["cutoff", "customer_id"], how="left")
    return pd.DataFrame({"orders": joined["orders"].fillna(0).to_numpy(float),
                         "spend": joined["spend"].fillna(0.0).to_numpy(float),
                         "first_order_days": joined["first_order_days"].to_numpy(float)}, index=table.index)


def repeat_spend(ev: pd.DataFrame, cutoff: int, ids) -> np.ndarray:
    """Each customer's mean net spend per repeat purchase day before ``cutoff`` (their first
    purchase day left out, as Gamma-Gamma is fitted in Fader, Hardie & Lee 2005 and in the
    ``lifetimes`` library: a first order is often unlike the later ones), for the customers
    ``ids`` (shape (n,)); 0 for those without a repeat purchase day."""
    before = ev[ev["day"].to_numpy() < cutoff]
    days = (before.assign(customer_id=before["customer_id"].astype(str))
            .groupby(["customer_id", "day"], observed=True, sort=True)["amount"].sum().reset_index())
    days = days[days["amount"] > 0]
    repeat = days[days.groupby("customer_id").cumcount() > 0]
    return repeat.groupby("customer_id")["amount"].mean().reindex(pd.Index(np.asarray(ids, str))).fillna(0.0).to_numpy()


def peer_values(frequency, recency, tenure, repeat_mean, horizon: float,
                start: dict | None = None, p_buy: bool = True,
                fitted: dict | None = None) -> tuple[pd.DataFrame, dict]:
    """The BTYD peers' predictions over ``horizon`` days for histories at one cutoff (arrays
    of shape (n,): purchase days, days since the last and since the first purchase, mean
    spend per repeat purchase day (:func:`repeat_spend`)), fitted on those histories (at
    most :data:`core.models.btyd.MAX_FIT_CUSTOMERS`, a seeded sample beyond). Gamma-Gamma's
    spend per order is the population mean for customers without a repeat purchase.

    Returns ``(columns, fits)``: columns ``bgnbd_orders``, ``bgnbd_p_buy``, ``pnbd_orders``,
    ``pnbd_p_buy``, ``gg_spend`` (expected spend per order) and ``bgnbd_value``,
    ``pnbd_value`` (orders times spend per order); ``fits`` the fitted models (``bgnbd``,
    ``pareto_nbd``, ``gamma_gamma`` or None). ``start``: an earlier ``fits`` (the previous
    cutoff's) to start the optimisers from. ``p_buy=False`` leaves the two P(a purchase)
    columns out (Pareto/NBD's is a quadrature per customer: the costliest figure here, and
    the models' inputs need none). ``fitted``: the ``fits`` of an earlier call on the same
    histories, used as they are (another horizon of the same cutoff: nothing is fitted
    again). Raises ValueError when a model cannot be fitted (no history)."""
    x = np.asarray(frequency, float) - 1
    T = np.asarray(tenure, float)
    t_x = T - np.asarray(recency, float)
    m = np.asarray(repeat_mean, float)
    if fitted is None:
        rows = _fit_rows(np.ones(len(x), bool), 0)
        start = start or {}
        bg = BGNBD.fit(x[rows], t_x[rows], T[rows], **({"start": _params(start["bgnbd"])} if "bgnbd" in start else {}))
        pn = _best_pareto(x[rows], t_x[rows], T[rows], start.get("pareto_nbd"))
        try:
            gg = GammaGamma.fit(x[rows], m[rows])
        except ValueError:  # too few repeat buyers
            gg = None
    else:
        bg, pn, gg = fitted["bgnbd"], fitted["pareto_nbd"], fitted["gamma_gamma"]
    if gg is not None:
        spend = gg.expected_spend(x, np.where(x > 0, m, 0.0))
    else:  # each customer's own mean, else everyone's
        spend = np.where(x > 0, m, m[x > 0].mean() if (x > 0).any() else 0.0)
    cols = pd.DataFrame({"bgnbd_orders": bg.expected_purchases(x, t_x, T, horizon),
                         "pnbd_orders": pn.expected_purchases(x, t_x, T, horizon), "gg_spend": spend})
    if p_buy:
        cols["bgnbd_p_buy"] = bg.p_buy(x, t_x, T, horizon)
        cols["pnbd_p_buy"] = pn.p_buy(x, t_x, T, horizon)
    cols["bgnbd_value"] = cols["bgnbd_orders"] * cols["gg_spend"]
    cols["pnbd_value"] = cols["pnbd_orders"] * cols["gg_spend"]
    fits = {"bgnbd": bg, "pareto_nbd": pn, "gamma_gamma": gg}
    return cols, fits


def _best_pareto(x, t_x, T, previous: ParetoNBD | None) -> ParetoNBD:
    """Pareto/NBD fitted from the default start and, when given, from ``previous``'s
    parameters: the one of higher likelihood. On a young cohort the likelihood is nearly flat
    along ``s / beta`` (the mean dropout rate), and a start far along that ridge (an earlier
    cutoff's ``s`` of 60, ``beta`` of 7,000 on CDNOW) stopped at a worse optimum whose
    expected purchases were 14% lower."""
    fits = [ParetoNBD.fit(x, t_x, T)] + ([ParetoNBD.fit(x, t_x, T, start=previous.params)] if previous else [])
    return max(fits, key=lambda m: float(paretonbd_log_likelihood(m.params, x, t_x, T).sum()))


def bgnbd_next_order_days(bg: BGNBD, frequency, recency, tenure, within: float) -> np.ndarray:
    """BG/NBD's median days to a customer's next purchase given that it comes within
    ``within`` days, shape (n,): alive at ``T`` (the only way to buy), the wait is
    exponential with ``lambda ~ Gamma(r + x, alpha + T)``, so ``P(wait <= t) = 1 - ((alpha + T)
    / (alpha + T + t)) ** (r + x)`` (Fader, Hardie & Lee 2005, section 5); the median of that
    distribution cut at ``within`` solves ``P(wait <= t) = P(wait <= within) / 2``."""
    x = np.asarray(frequency, float) - 1
    a = bg.alpha + np.asarray(tenure, float)
    k = bg.r + x
    half = (1.0 - (a / (a + within)) ** k) / 2.0
    return a * ((1.0 - half) ** (-1.0 / k) - 1.0)


def naive_next_order_days(recency, gap_mean, within: float) -> np.ndarray:
    """The naive peer's days to the next purchase: the customer's mean gap between purchase
    days minus the days since their last, within ``[0, within)`` (half the window without a
    gap), shape (n,)."""
    due = np.asarray(gap_mean, float) - np.asarray(recency, float)
    return np.where(np.isfinite(due), np.clip(due, 0.0, within - 1.0), within / 2.0)


def _params(bg: BGNBD) -> tuple[float, float, float, float]:
    return bg.r, bg.alpha, bg.a, bg.b


def horizon_ratio(bg: BGNBD, frequency, recency, tenure, trained: float, wanted: float) -> np.ndarray:
    """BG/NBD's expected orders over ``wanted`` days divided by those over ``trained`` days,
    per customer (shape (n,)), to carry a prediction learned at ``trained`` days to a longer
    horizon; 1 where ``wanted == trained``. Customers with no expected orders at either get
    ``wanted / trained``."""
    if wanted == trained:
        return np.ones(len(np.asarray(frequency)))
    x = np.asarray(frequency, float) - 1
    T = np.asarray(tenure, float)
    t_x = T - np.asarray(recency, float)
    short, long = bg.expected_purchases(x, t_x, T, trained), bg.expected_purchases(x, t_x, T, wanted)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(short > 0, long / short, wanted / trained)


#: XGBoost settings of the value models (a shallow, slow-learning ensemble; the number of
#: trees is chosen by early stopping on the latest training snapshot). Every row and column
#: in every tree: with row and column subsampling (0.8) CDNOW's spend total moved from +7% to
#: +15% between two seeds, so a user's run and the benchmark's differed; without it the
#: boosters do not depend on the seed (XGBoost's ``hist`` method is deterministic).
VALUE_PARAMS = {"max_depth": 4, "eta": 0.05, "min_child_weight": 20, "subsample": 1.0, "colsample_bytree": 1.0,
                "lambda": 1.0}
#: The most trees, and the rounds without improvement that stop the search.
MAX_ROUNDS, EARLY_STOP = 1000, 50


@dataclass
class ValueModel:
    """Expected spend and orders over ``horizon`` days, P(at least one order in them) and the
    median days to the first of them for a customer who orders: four XGBoost boosters
    (``spend``: Tweedie, ``orders``: Poisson, ``buy``: logistic, ``timing``: absolute error,
    whose minimiser is the conditional median, on the rows with an order) on the same inputs
    (``features``, a frame as :func:`core.models.features.model_frame` makes it)."""

    horizon: int
    features: list[str]
    spend: object = None
    orders: object = None
    buy: object = None
    timing: object = None
    info: dict = field(default_factory=dict)

    #: Inputs whose log is each booster's starting margin (None: a constant), so the trees
    #: learn a correction to the peer's figure rather than the figure itself.
    offsets: dict = field(default_factory=dict)

    @classmethod
    def fit(cls, X: pd.DataFrame, spend: np.ndarray, orders: np.ndarray, is_val: np.ndarray, horizon: int,
            seed: int, n_jobs: int = 1, offsets: dict | None = None,
            first_order_days: np.ndarray | None = None) -> "ValueModel":
        """Fit on the rows of ``X`` (shape (n, p)) where ``is_val`` is False, stopping on
        those where it is True (the latest training snapshot). ``spend`` (money, >= 0) and
        ``orders`` (counts) of shape (n,). Raises DataError for a negative or missing spend,
        or when the training or the stopping windows hold no spend."""
        import xgboost as xgb

        spend, orders, is_val = np.asarray(spend, float), np.asarray(orders, float), np.asarray(is_val, bool)
        if (spend < 0).any() or not np.isfinite(spend).all():
            raise DataError("a value target is negative or missing: spend in a window is money, 0 or more")
        if spend[~is_val].sum() <= 0 or spend[is_val].sum() <= 0:
            raise DataError("no customer of the training snapshots bought in the window after its cutoff (a log "
                            "where nobody buys again, or a cutoff after the log ends): there is no value to learn")
        model = cls(horizon=int(horizon), features=list(X.columns), offsets=dict(offsets or {}))
        for name, y, objective in (("spend", spend, {"objective": "reg:tweedie", "tweedie_variance_power": 1.5}),
                                   ("orders", orders, {"objective": "count:poisson"}),
                                   ("buy", (orders > 0).astype(float), {"objective": "binary:logistic"})):
            margin = model._margin(X, name)
            dtrain = xgb.DMatrix(X[~is_val], label=y[~is_val], enable_categorical=True, nthread=n_jobs,
                                 base_margin=None if margin is None else margin[~is_val])
            dval = xgb.DMatrix(X[is_val], label=y[is_val], enable_categorical=True, nthread=n_jobs,
                               base_margin=None if margin is None else margin[is_val])
            params = {**VALUE_PARAMS, **objective, "seed": seed, "nthread": n_jobs, "tree_method": "hist"}
            booster = xgb.train(params, dtrain, MAX_ROUNDS, evals=[(dval, "val")], early_stopping_rounds=EARLY_STOP,
                                verbose_eval=False)
            booster = booster[: booster.best_iteration + 1]
            setattr(model, name, booster)
            model.info[f"{name}_trees"] = int(booster.num_boosted_rounds())
        if first_order_days is not None:
            model._fit_timing(X, np.asarray(first_order_days, float), is_val, seed, n_jobs)
        return model

    def _fit_timing(self, X: pd.DataFrame, days: np.ndarray, is_val: np.ndarray, seed: int, n_jobs: int) -> None:
        """The ``timing`` booster on the rows with an order in their window (a median
        regression, ``reg:absoluteerror``), stopped on those of the stopping snapshot; none
        when either has fewer than 20 such rows."""
        import xgboost as xgb

        has = np.isfinite(days)
        tr, va = has & ~is_val, has & is_val
        if tr.sum() < 20 or va.sum() < 20:
            self.info["timing"] = "too few orders in the training windows to learn when they come"
            return
        params = {**VALUE_PARAMS, "objective": "reg:absoluteerror", "seed": seed, "nthread": n_jobs,
                  "tree_method": "hist"}
        dtrain = xgb.DMatrix(X[tr], label=days[tr], enable_categorical=True, nthread=n_jobs)
        dval = xgb.DMatrix(X[va], label=days[va], enable_categorical=True, nthread=n_jobs)
        booster = xgb.train(params, dtrain, MAX_ROUNDS, evals=[(dval, "val")], early_stopping_rounds=EARLY_STOP,
                            verbose_eval=False)
        self.timing = booster[: booster.best_iteration + 1]
        self.info["timing_trees"] = int(self.timing.num_boosted_rounds())

    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        """``expected_spend`` (money), ``expected_orders``, ``p_buy`` (P(at least one order))
        over :attr:`horizon` days and ``next_order_days`` (median days to the first order for
        a customer who orders in them, clipped to the window; NaN without a timing booster)
        for the rows of ``X`` (shape (n, p), the fitted features), shape (n, 4)."""
        import xgboost as xgb

        out = {}
        for name, key in (("spend", "expected_spend"), ("orders", "expected_orders"), ("buy", "p_buy")):
            margin = self._margin(X, name)
            d = xgb.DMatrix(X[self.features], enable_categorical=True, base_margin=margin)
            out[key] = getattr(self, name).predict(d)
        out["next_order_days"] = (np.clip(self.timing.predict(xgb.DMatrix(X[self.features], enable_categorical=True)),
                                          0.0, self.horizon - 1.0) if self.timing is not None else np.full(len(X), np.nan))
        return pd.DataFrame(out, index=X.index)

    def _margin(self, X: pd.DataFrame, name: str) -> np.ndarray | None:
        """The log of the ``offsets[name]`` input (floored at 1e-6), or None."""
        col = self.offsets.get(name)
        return None if col is None else np.log(np.clip(X[col].to_numpy(float), 1e-6, None))
