"""The Pareto/NBD model (Schmittlein, Morrison & Colombo 1987, "Counting your customers:
who are they and what will they do next?", *Management Science* 33(1)), the buy-till-you-die
peer that BG/NBD simplifies (:mod:`core.models.btyd`).

While alive, a customer buys at a Poisson rate ``lambda ~ Gamma(r, alpha)`` and dies at an
exponential time with rate ``mu ~ Gamma(s, beta)`` (death can come at any moment, not only
after a purchase as in BG/NBD). A history is ``(x, t_x, T)`` as for BG/NBD: repeat purchases,
the time of the last and the time since the first, in one time unit.

The likelihood, P(alive) and the conditional expected purchases follow Fader, Hardie & Lee
(2005), "A note on implementing the Pareto/NBD model in MATLAB" (eqs. 1-3 and 20-22): with
``A_0`` computed by Gauss's hypergeometric function on the larger of ``alpha`` and ``beta``
(the form the note gives for each case), in logs as the well-kept ``lifetimes`` library does
(``ParetoNBDFitter._log_A_0``). The probability of at least one purchase in the next ``t``
has no closed form; it is the expectation, over the posterior of ``lambda`` and ``mu`` given
alive (independent ``Gamma(r + x, alpha + T)`` and ``Gamma(s, beta + T)``), of
``lambda / (lambda + mu) (1 - exp(-(lambda + mu) t))``, by Gauss-Laguerre quadrature.

The parameter check against ``lifetimes`` on CDNOW (calibration to 1997-09-30, weeks, all
23,570 customers) and the recovery of simulated parameters are in ``tests/models/test_value.py``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, gammaln, hyp2f1, roots_genlaguerre

from core.models.btyd import _histories

#: Nodes of the Gauss-Laguerre rule in each of the two dimensions of :meth:`ParetoNBD.p_buy`
#: (the integrand is smooth and bounded by 1: 24 nodes agree with 64 to 1e-6 on CDNOW).
QUADRATURE_NODES = 24


def _log_term(params, x, t) -> np.ndarray:
    """``log(2F1(r+s+x, b; r+s+x+1; |alpha-beta| / (m+t)) / (m+t)^(r+s+x))`` with ``m`` the
    larger of ``alpha``, ``beta`` and ``b`` as the MATLAB note's eq. 20/21 set it; shape (n,)."""
    r, alpha, s, beta = params
    rsx = r + s + x
    big, second = (alpha, np.full_like(x, s + 1.0)) if alpha >= beta else (beta, r + x)
    q = big + t
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.log(hyp2f1(rsx, second, rsx + 1.0, abs(alpha - beta) / q)) - rsx * np.log(q)


def _log_a0(params, x, t_x, T, pairs: "_Pairs | None" = None) -> np.ndarray:
    """``log A_0`` of Fader, Hardie & Lee (2005, MATLAB note, eq. 20/21), shape (n,): the
    difference of :func:`_log_term` at ``t_x`` and at ``T``; -inf where ``t_x == T`` (no
    time after the last purchase). ``pairs``: the distinct ``(x, t)`` of these histories, so
    that the hypergeometric function is evaluated once for each."""
    if pairs is None:
        la, lb = _log_term(params, x, t_x), _log_term(params, x, T)
    else:
        both = _log_term(params, pairs.x, pairs.t)
        la, lb = both[pairs.at_t_x], both[pairs.at_T]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return la + np.log1p(-np.exp(np.minimum(lb - la, 0.0)))


@dataclass(frozen=True)
class _Pairs:
    """The distinct ``(x, t)`` among the ``(x, t_x)`` and ``(x, T)`` of some histories, and
    where each history's two pairs are among them (a fit evaluates the likelihood some
    thousand times on the same histories)."""

    x: np.ndarray
    t: np.ndarray
    at_t_x: np.ndarray
    at_T: np.ndarray

    @classmethod
    def of(cls, x, t_x, T) -> "_Pairs":
        keys, inverse = np.unique(np.column_stack([np.r_[x, x], np.r_[t_x, T]]), axis=0, return_inverse=True)
        inverse = inverse.ravel()
        return cls(keys[:, 0], keys[:, 1], inverse[:len(x)], inverse[len(x):])


def paretonbd_log_likelihood(params, x, t_x, T, pairs: _Pairs | None = None) -> np.ndarray:
    """Log-likelihood of each history ``(x, t_x, T)`` (arrays of shape (n,)) under
    Pareto/NBD parameters ``(r, alpha, s, beta)`` (Fader, Hardie & Lee 2005, MATLAB note,
    eq. 22). Shape (n,). ``pairs``: ``_Pairs.of(x, t_x, T)``, for many evaluations."""
    r, alpha, s, beta = params
    x, t_x, T = (np.asarray(v, float) for v in (x, t_x, T))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # the optimiser's trials may overflow
        head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        first = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
        return head + np.logaddexp(first, np.log(s) - np.log(r + s + x) + _log_a0(params, x, t_x, T, pairs))


@dataclass(frozen=True)
class ParetoNBD:
    """Fitted Pareto/NBD parameters (purchase rate ``Gamma(r, alpha)``, dropout rate
    ``Gamma(s, beta)``) and the time unit they are in."""

    r: float
    alpha: float
    s: float
    beta: float
    unit: str = "days"

    @classmethod
    def fit(cls, x, t_x, T, unit: str = "days", start=(1.0, 1.0, 1.0, 1.0)) -> "ParetoNBD":
        """Maximum-likelihood fit on histories ``(x, t_x, T)`` (arrays of shape (n,), times
        in ``unit``): ``scipy.optimize.minimize`` (L-BFGS-B on the logs of the parameters),
        each distinct history counted once with its weight. Raises ValueError on empty or
        impossible histories, or when the likelihood is not finite at the optimum."""
        x, t_x, T = _histories(x, t_x, T)
        keys, weights = np.unique(np.column_stack([x, t_x, T]), axis=0, return_counts=True)
        ux, ut, uT = keys.T
        total = weights.sum()
        pairs = _Pairs.of(ux, ut, uT)

        def nll(logp):
            ll = paretonbd_log_likelihood(np.exp(logp), ux, ut, uT, pairs)
            if not np.isfinite(ll).all():
                return 1e12
            return -float(np.dot(weights, ll)) / total

        res = minimize(nll, np.log(np.asarray(start, float)), method="L-BFGS-B", bounds=[(-10, 10)] * 4)
        if not np.isfinite(res.fun) or res.fun >= 1e12:
            raise ValueError(f"Pareto/NBD did not converge: {res.message}")
        r, alpha, s, beta = np.exp(res.x)
        return cls(float(r), float(alpha), float(s), float(beta), unit)

    @property
    def params(self) -> tuple[float, float, float, float]:
        return self.r, self.alpha, self.s, self.beta

    def p_alive(self, x, t_x, T) -> np.ndarray:
        """P(alive at T | history) (the MATLAB note's eq. 24), shape (n,)."""
        x, t_x, T = (np.asarray(v, float) for v in (x, t_x, T))
        r, alpha, s, beta = self.params
        log_odds = (np.log(s) - np.log(r + s + x) + (r + x) * np.log(alpha + T) + s * np.log(beta + T)
                    + _log_a0(self.params, x, t_x, T))
        return expit(-log_odds)

    def expected_purchases(self, x, t_x, T, t: float) -> np.ndarray:
        """Expected purchases in (T, T + t] given the history (Schmittlein, Morrison &
        Colombo 1987; the MATLAB note's eq. 26), shape (n,); the limit ``s -> 1`` (a
        logarithm) within 1e-6 of it."""
        x, t_x, T = (np.asarray(v, float) for v in (x, t_x, T))
        r, alpha, s, beta = self.params
        scale = (r + x) * (beta + T) / (alpha + T)
        if abs(s - 1.0) < 1e-6:
            body = scale * np.log((beta + T + t) / (beta + T))
        else:
            body = scale / (s - 1.0) * (1.0 - ((beta + T) / (beta + T + t)) ** (s - 1.0))
        return self.p_alive(x, t_x, T) * body

    def p_buy(self, x, t_x, T, t: float) -> np.ndarray:
        """P(at least one purchase in (T, T + t] | history), shape (n,): P(alive) times the
        posterior expectation of ``lambda / (lambda + mu) (1 - exp(-(lambda + mu) t))``, by a
        :data:`QUADRATURE_NODES`-point generalized Gauss-Laguerre rule in each rate (one rule
        per distinct ``x``)."""
        x, t_x, T = (np.asarray(v, float) for v in (x, t_x, T))
        r, alpha, s, beta = self.params
        out = np.empty(len(x))
        mu_nodes, mu_w = roots_genlaguerre(QUADRATURE_NODES, s - 1.0)
        mu_w = mu_w / mu_w.sum()
        for xv in np.unique(x):
            rows = np.flatnonzero(x == xv)
            lam_nodes, lam_w = roots_genlaguerre(QUADRATURE_NODES, r + xv - 1.0)
            w = np.outer(lam_w / lam_w.sum(), mu_w)                               # (k, k)
            for chunk in np.array_split(rows, max(1, len(rows) // 20_000)):
                lam = lam_nodes[None, :, None] / (alpha + T[chunk])[:, None, None]   # (m, k, 1)
                mu = mu_nodes[None, None, :] / (beta + T[chunk])[:, None, None]      # (m, 1, k)
                tot = lam + mu
                f = lam / tot * -np.expm1(-tot * t)
                out[chunk] = (f * w[None]).sum(axis=(1, 2))
        return self.p_alive(x, t_x, T) * out
