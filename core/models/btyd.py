"""Buy-till-you-die models: BG/NBD for who buys again, Gamma-Gamma for how much.

BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way: an alternative to
the Pareto/NBD model", *Marketing Science* 24(2)): while alive, a customer buys at a
Poisson rate ``lambda ~ Gamma(r, alpha)``; after every purchase they die with probability
``p ~ Beta(a, b)``. A customer's history is ``(x, t_x, T)``: repeat purchases (purchases
after the first), the time of the last one and the time since the first, both measured
from the first purchase, in one time unit (days here unless said). The four parameters
are fitted by maximum likelihood on these histories alone (no labels), with
``scipy.optimize.minimize`` (L-BFGS-B on the logs of the parameters), each distinct
history counted once with its weight.

The probability of at least one purchase in the next ``t`` is exact: a customer alive at
``T`` who makes no purchase cannot die in the window (death follows a purchase), and given
the history and being alive, ``lambda ~ Gamma(r + x, alpha + T)``, so

    P(X(T, T + t) > 0) = P(alive) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x)).

Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value curves for customer
base analysis", *Journal of Marketing Research* 42(4)): a customer's spend per transaction
is Gamma(p, nu) with ``nu ~ Gamma(q, gamma)``, independent of the transaction process;
fitted on customers with at least one repeat purchase and positive mean spend, it gives
each customer's expected spend per transaction, shrinking their own mean towards the
population's.

The parameter check on CDNOW (calibration to 1997-09-30, weeks, all 23,570 customers) is
in ``tests/inputs/test_log.py``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1


def _histories(x, t_x, T):
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    if not (x.shape == t_x.shape == T.shape):
        raise ValueError(f"x, t_x and T must have one shape, got {x.shape}, {t_x.shape}, {T.shape}")
    if len(x) == 0:
        raise ValueError("no customer history to fit")
    if (x < 0).any() or (t_x < 0).any() or (T < t_x - 1e-9).any():
        raise ValueError("histories need x >= 0 and 0 <= t_x <= T")
    return x, t_x, T


def bgnbd_log_likelihood(params, x, t_x, T) -> np.ndarray:
    """Log-likelihood of each history ``(x, t_x, T)`` (arrays of shape (n,)) under BG/NBD
    parameters ``(r, alpha, a, b)`` (Fader, Hardie & Lee 2005, eq. 6). Shape (n,)."""
    r, alpha, a, b = params
    x, t_x, T = np.asarray(x, float), np.asarray(t_x, float), np.asarray(T, float)
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x) - betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + t_x), -np.inf)
    return a1 + a2 + np.logaddexp(a3, a4)


class _LikelihoodTable:
    """:func:`bgnbd_log_likelihood` for many evaluations on the same histories: the terms
    that depend on ``x`` alone are computed once per distinct ``x``, and ``log(alpha + t)``
    once per distinct time, then gathered (frequencies and day counts take a few hundred
    values among many thousand customers, so an evaluation costs gathers, not ``gammaln``
    per customer)."""

    def __init__(self, x, t_x, T):
        self.xs, self.xi = np.unique(x, return_inverse=True)
        times, ti = np.unique(np.concatenate([t_x, T]), return_inverse=True)
        self.times, self.ti_t, self.ti_T = times, ti[:len(x)], ti[len(x):]

    def log_likelihood(self, params) -> np.ndarray:
        r, alpha, a, b = params
        xs, xi = self.xs, self.xi
        per_x = gammaln(r + xs) - gammaln(r) + r * np.log(alpha) + betaln(a, b + xs) - betaln(a, b)
        with np.errstate(divide="ignore", invalid="ignore"):
            a4_x = np.where(xs > 0, np.log(a) - np.log(np.maximum(b + xs - 1, 1e-300)), -np.inf)
        log_t = np.log(alpha + self.times)
        rx = (r + xs)[xi]
        return per_x[xi] + np.logaddexp(-rx * log_t[self.ti_T], a4_x[xi] - rx * log_t[self.ti_t])


@dataclass(frozen=True)
class BGNBD:
    """Fitted BG/NBD parameters and the time unit they are in (``"days"``, ``"weeks"``)."""

    r: float
    alpha: float
    a: float
    b: float
    unit: str = "days"

    @classmethod
    def fit(cls, x, t_x, T, unit: str = "days", start=(1.0, 1.0, 1.0, 1.0)) -> "BGNBD":
        """Maximum-likelihood fit on histories ``(x, t_x, T)`` (arrays of shape (n,), times in
        ``unit``). Raises ValueError on empty or impossible histories, or when the
        optimiser does not converge."""
        x, t_x, T = _histories(x, t_x, T)
        keys, inverse, weights = np.unique(np.column_stack([x, t_x, T]), axis=0, return_inverse=True,
                                           return_counts=True)
        ux, ut, uT = keys.T
        table = _LikelihoodTable(ux, ut, uT)

        def nll(logp):
            return -float(np.dot(weights, table.log_likelihood(np.exp(logp)))) / weights.sum()

        res = minimize(nll, np.log(np.asarray(start, float)), method="L-BFGS-B",
                       bounds=[(-12, 12)] * 4)
        if not res.success and not np.isfinite(res.fun):
            raise ValueError(f"BG/NBD did not converge: {res.message}")
        r, alpha, a, b = np.exp(res.x)
        return cls(float(r), float(alpha), float(a), float(b), unit)

    def p_alive(self, x, t_x, T) -> np.ndarray:
        """P(alive at T | history), shape (n,); 1 for customers with no repeat purchase."""
        x, t_x, T = (np.asarray(v, float) for v in (x, t_x, T))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            odds = np.where(x > 0, self.a / np.maximum(self.b + x - 1, 1e-300)
                            * ((self.alpha + T) / (self.alpha + t_x)) ** (self.r + x), 0.0)
        return 1.0 / (1.0 + odds)

    def p_buy(self, x, t_x, T, t: float) -> np.ndarray:
        """Exact P(at least one purchase in (T, T + t]) given the history, shape (n,); ``t``
        in the model's unit."""
        T = np.asarray(T, float)
        x = np.asarray(x, float)
        return self.p_alive(x, t_x, T) * (1.0 - ((self.alpha + T) / (self.alpha + T + t)) ** (self.r + x))

    def expected_purchases(self, x, t_x, T, t: float) -> np.ndarray:
        """Expected purchases in (T, T + t] given the history (Fader, Hardie & Lee 2005,
        eq. 10, with Gauss's hypergeometric function ``scipy.special.hyp2f1``), shape (n,).
        The formula is 0/0 at ``a = 1`` (a fit where nobody bought twice stays there): within
        :data:`A_NEAR_ONE` of 1 it is the mean of its values at ``1 -/+ 2 A_NEAR_ONE``, its limit."""
        if abs(self.a - 1.0) < A_NEAR_ONE:
            lo, hi = (dataclasses.replace(self, a=1.0 + d).expected_purchases(x, t_x, T, t)
                      for d in (-2 * A_NEAR_ONE, 2 * A_NEAR_ONE))
            return (lo + hi) / 2
        x, t_x, T = (np.asarray(v, float) for v in (x, t_x, T))
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        body = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
        return (a + b + x - 1) / (a - 1) * body * self.p_alive(x, t_x, T)


#: How near 1 the BG/NBD ``a`` is taken as 1 by :meth:`BGNBD.expected_purchases` (where its
#: formula divides 0 by 0); 1e-4 keeps the two sides' rounding errors far below the result.
A_NEAR_ONE = 1e-4


@dataclass(frozen=True)
class GammaGamma:
    """Fitted Gamma-Gamma spend parameters ``p``, ``q``, ``gamma`` (money in the log's
    currency)."""

    p: float
    q: float
    gamma: float

    @classmethod
    def fit(cls, x, mean_spend) -> "GammaGamma":
        """Maximum-likelihood fit on customers with ``x`` >= 1 repeat purchases and positive
        mean spend per purchase (arrays of shape (n,); others are left out).

        Raises ValueError when fewer than 10 customers qualify."""
        x, m = np.asarray(x, float), np.asarray(mean_spend, float)
        keep = (x >= 1) & (m > 0) & np.isfinite(m)
        if keep.sum() < 10:
            raise ValueError(f"Gamma-Gamma needs at least 10 repeat buyers with spend, got {int(keep.sum())}")
        x, m = x[keep], m[keep]

        def nll(logp):
            p, q, g = np.exp(logp)
            px = p * x
            ll = (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(g) + (px - 1) * np.log(m)
                  + px * np.log(x) - (px + q) * np.log(x * m + g))
            return -float(ll.mean())

        start = np.log([1.0, 2.0, float(np.median(m))])
        res = minimize(nll, start, method="L-BFGS-B", bounds=[(-12, 12), (np.log(1.0001), 12), (-12, 20)])
        p, q, g = np.exp(res.x)
        return cls(float(p), float(q), float(g))

    def expected_spend(self, x, mean_spend) -> np.ndarray:
        """Expected spend per purchase (shape (n,)): ``p (gamma + x m) / (p x + q - 1)``; the
        population mean ``p gamma / (q - 1)`` for customers without repeat purchases."""
        x, m = np.asarray(x, float), np.nan_to_num(np.asarray(mean_spend, float))
        return self.p * (self.gamma + x * m) / (self.p * x + self.q - 1)


#: The most customers BG/NBD and Gamma-Gamma are fitted on at one cutoff: a seeded random
#: sample beyond that (their four and three parameters are population figures, whose
#: standard errors at this many customers are small beside the values). Scoring uses every
#: customer.
MAX_FIT_CUSTOMERS = 100_000


def _fit_rows(mask: np.ndarray, cutoff: int) -> np.ndarray:
    """Indices of the rows of ``mask`` to fit on: all, or :data:`MAX_FIT_CUSTOMERS` drawn
    at random with the cutoff's day number as the seed (the same rows on every run)."""
    rows = np.flatnonzero(mask)
    if len(rows) <= MAX_FIT_CUSTOMERS:
        return rows
    return np.sort(np.random.default_rng(cutoff).choice(rows, MAX_FIT_CUSTOMERS, replace=False))


def fit_at_cutoffs(frequency: np.ndarray, recency: np.ndarray, tenure: np.ndarray, spend_mean: np.ndarray,
                   cutoff_days: np.ndarray, horizon: int) -> tuple[pd.DataFrame, dict[int, dict]]:
    """BG/NBD and Gamma-Gamma fitted at each cutoff on the histories before it (no labels),
    for the rows of a snapshot table (arrays of shape (n,): purchase days ``frequency``,
    days since the last and the first purchase ``recency`` and ``tenure``, mean spend per
    purchase day ``spend_mean`` in the log's currency, each row's cutoff day number). Each
    cutoff's fit starts where the previous cutoff's ended.

    Returns
    -------
    columns : DataFrame of shape (n, 4): ``bgnbd_p_alive`` (P(alive)), ``bgnbd_expected``
        (expected purchases in the next ``horizon`` days), ``_bgnbd_p`` (exact P(at least
        one purchase in the horizon), the peer's score) and ``_expected_spend`` (Gamma-Gamma
        expected spend per purchase; the customer's mean where Gamma-Gamma cannot be fitted).
    fits : ``{cutoff day: {"bgnbd": parameters, "gamma_gamma": parameters or None}}``.
    """
    x = np.asarray(frequency, float) - 1
    T = np.asarray(tenure, float)
    t_x = T - np.asarray(recency, float)
    spend_mean = np.asarray(spend_mean, float)
    cut_day = np.asarray(cutoff_days)
    p_alive, expected, p_buy, spend = (np.full(len(x), np.nan) for _ in range(4))
    fits, start = {}, (1.0, 1.0, 1.0, 1.0)
    for cut in sorted(set(cut_day)):
        m = cut_day == cut
        fit = _fit_rows(m, int(cut))
        bg = BGNBD.fit(x[fit], t_x[fit], T[fit], start=start)  # started where the previous cutoff ended
        start = (bg.r, bg.alpha, bg.a, bg.b)
        p_alive[m] = bg.p_alive(x[m], t_x[m], T[m])
        expected[m] = bg.expected_purchases(x[m], t_x[m], T[m], horizon)
        p_buy[m] = bg.p_buy(x[m], t_x[m], T[m], horizon)
        try:
            gg = GammaGamma.fit(x[fit], spend_mean[fit])
            spend[m] = gg.expected_spend(x[m], spend_mean[m])
        except ValueError:
            gg = None
            spend[m] = spend_mean[m]
        fits[int(cut)] = {"bgnbd": dataclasses.asdict(bg), "gamma_gamma": None if gg is None else dataclasses.asdict(gg)}
        if not (x[fit] > 0).any():  # nobody bought twice: the model cannot tell buying rates apart
            fits[int(cut)]["note"] = "no customer bought twice before this cutoff: BG/NBD's figures are flat"
    return pd.DataFrame({"bgnbd_p_alive": p_alive, "bgnbd_expected": expected, "_bgnbd_p": p_buy,
                         "_expected_spend": spend}), fits
