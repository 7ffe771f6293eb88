"""Customer value (issue 32): the CLV metrics on hand-computed cases, and the Pareto/NBD peer
against a simulation of its own process and against the well-kept ``lifetimes`` library."""
import numpy as np
import pandas as pd
import pytest

from core.errors import DataError
from core.models import value_evaluation as ve
from core.models.pareto_nbd import ParetoNBD, paretonbd_log_likelihood
from tests.support import CDNOW

Y = np.array([0.0, 0.0, 10.0, 30.0])


def test_normalized_gini_matches_the_lorenz_curve_computed_by_hand():
    """Ordered by [1, 4, 2, 3] the Lorenz curve of Y (ascending prediction) is 0, 0, .25, 1, 1:
    area .4375, Gini 1 - 2 x .4375 = .125; the perfect order's Gini is .625, so .2."""
    assert ve.gini(Y, [1, 4, 2, 3]) == pytest.approx(0.125)
    assert ve.gini(Y, Y) == pytest.approx(0.625)
    assert ve.normalized_gini(Y, [1, 4, 2, 3]) == pytest.approx(0.2)
    assert ve.normalized_gini(Y, [1, 2, 3, 4]) == pytest.approx(1.0)
    assert ve.normalized_gini(Y, [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert ve.normalized_gini(Y, [5, 5, 5, 5]) == pytest.approx(0.0)        # ties: random order


def test_top_share_counts_a_tie_across_the_boundary_by_its_share():
    assert ve.top_share(Y, [1, 2, 3, 4], share=0.25) == pytest.approx(0.75)
    assert ve.top_share(Y, [1, 4, 2, 3], share=0.25) == pytest.approx(0.0)
    assert ve.top_share(Y, [5, 5, 5, 5], share=0.5) == pytest.approx(0.5)
    assert ve.top_share(Y, [0, 0, 1, 1], share=0.25) == pytest.approx(0.5)   # half of the tie {10, 30}


def test_decile_calibration_and_bias_on_a_known_prediction():
    y = np.arange(100, dtype=float)
    cal = ve.decile_calibration(y, 1.1 * y)
    assert cal["customers"].tolist() == [10] * 10
    assert cal.loc[0, "realised_mean"] == pytest.approx(94.5) and cal.loc[9, "realised_mean"] == pytest.approx(4.5)
    assert np.allclose(cal["ratio"], 1.1)
    assert ve.total_bias(y, 1.1 * y) == pytest.approx(0.1)
    m = ve.count_metrics([0, 1, 2, 3], [1, 1, 1, 1])
    assert m["mae"] == pytest.approx(1.0) and m["total_bias"] == pytest.approx(4 / 6 - 1)


def test_bootstrap_intervals_hold_the_estimate_and_a_prediction_against_itself_differs_by_zero():
    rng = np.random.default_rng(0)
    y = rng.gamma(0.3, 50, 2000)
    pred = y * rng.lognormal(0, 1, 2000)
    est = ve.value_metrics(y, pred)
    ci = ve.value_intervals(y, pred, n_resamples=200, seed=1)
    for m in ve.RESAMPLED:
        assert ci[m][0] <= est[m] <= ci[m][1], m
    same = ve.paired_value_difference(y, pred, pred, n_resamples=50)
    assert all(v == [0.0, 0.0, 0.0] for v in same.values())
    better = ve.paired_value_difference(y, pred, rng.permutation(pred), n_resamples=200)
    assert better["normalized_gini"][1] > 0          # the real ranking beats a shuffled one


def test_a_window_where_nobody_spent_is_refused_in_one_line():
    with pytest.raises(DataError, match="nobody spent"):
        ve.normalized_gini([0, 0, 0], [1, 2, 3])


def _simulate_pareto(n, r, alpha, s, beta, T, horizon, seed):
    """Customers from the Pareto/NBD process: histories in (0, T], purchases in (T, T + horizon]."""
    rng = np.random.default_rng(seed)
    lam, mu = rng.gamma(r, 1 / alpha, n), rng.gamma(s, 1 / beta, n)
    death = rng.exponential(1 / mu)
    x, t_x, later = np.zeros(n), np.zeros(n), np.zeros(n)
    for i in range(n):
        t = 0.0
        while True:
            t += rng.exponential(1 / lam[i])
            if t > min(death[i], T + horizon):
                break
            if t <= T:
                x[i] += 1
                t_x[i] = t
            else:
                later[i] += 1
    return x, t_x, np.full(n, T), later


def test_pareto_nbd_recovers_simulated_parameters_and_predicts_the_holdout():
    x, t_x, T, later = _simulate_pareto(8000, 0.6, 10.0, 0.7, 12.0, 39.0, 39.0, seed=3)
    m = ParetoNBD.fit(x, t_x, T, unit="weeks")
    assert m.r == pytest.approx(0.6, rel=0.15) and m.alpha == pytest.approx(10.0, rel=0.25)
    assert m.s == pytest.approx(0.7, rel=0.3) and m.beta == pytest.approx(12.0, rel=0.5)
    assert m.expected_purchases(x, t_x, T, 39.0).sum() == pytest.approx(later.sum(), rel=0.08)
    assert m.p_buy(x, t_x, T, 39.0).mean() == pytest.approx((later > 0).mean(), abs=0.02)


def test_pareto_nbd_p_buy_equals_a_monte_carlo_of_its_posterior():
    """The quadrature against 400,000 draws of (lambda, mu) from the posterior given alive."""
    m = ParetoNBD(0.55, 10.6, 0.61, 11.7, "weeks")
    rng = np.random.default_rng(0)
    for x, t_x, T in [(0, 0.0, 38.0), (3, 20.0, 38.0), (12, 37.0, 39.0)]:
        lam = rng.gamma(m.r + x, 1 / (m.alpha + T), 400_000)
        mu = rng.gamma(m.s, 1 / (m.beta + T), 400_000)
        mc = np.mean(lam / (lam + mu) * -np.expm1(-(lam + mu) * 13.0))
        got = m.p_buy([x], [t_x], [T], 13.0)[0] / m.p_alive([x], [t_x], [T])[0]
        assert got == pytest.approx(mc, abs=2e-3)


#: ``lifetimes`` 0.11.3 (``ParetoNBDFitter`` and ``GammaGammaFitter``, penalizer 0) on CDNOW's
#: calibration histories below (purchase days, weeks, calibration to 1997-09-30, all 23,570
#: customers); Gamma-Gamma on each repeat buyer's mean spend of their repeat purchase days.
LIFETIMES_PARETO = (0.5959113276888384, 11.592898160660086, 0.5535070188993094, 9.677096295904354)
LIFETIMES_GAMMA_GAMMA = (6.275358592840581, 3.624450210390405, 14.983688961936977)
#: ``lifetimes``' log-likelihood, P(alive) and expected purchases in 39 weeks under
#: LIFETIMES_PARETO for histories (x, t_x, T).
LIFETIMES_VALUES = {(0, 0.0, 38.0): (-0.5192512726361866, 0.2924239385406389, 0.11477250700950707),
                    (1, 5.0, 38.0): (-4.84765102237114, 0.2664251390847732, 0.2800446391831807),
                    (4, 30.0, 38.0): (-15.027154531819036, 0.8576824473240138, 2.596219862353683),
                    (10, 35.5, 39.0): (-27.191504322563, 0.9404545538717102, 6.45244052667163),
                    (2, 1.0, 32.0): (-6.7816672279784385, 0.0892913597240148, 0.1702422468648508)}


def test_pareto_nbd_formulas_equal_lifetimes_at_its_parameters():
    m = ParetoNBD(*LIFETIMES_PARETO, unit="weeks")
    for (x, t_x, T), (ll, alive, expected) in LIFETIMES_VALUES.items():
        h = ([x], [t_x], [T])
        assert paretonbd_log_likelihood(m.params, *h)[0] == pytest.approx(ll, rel=1e-9)
        assert m.p_alive(*h)[0] == pytest.approx(alive, rel=1e-9)
        assert m.expected_purchases(*h, 39.0)[0] == pytest.approx(expected, rel=1e-9)


@pytest.mark.skipif(not CDNOW.exists(), reason="../shared/data/cdnow_master.txt is absent")
def test_pareto_nbd_and_gamma_gamma_fits_on_cdnow_equal_lifetimes():
    from core.models.btyd import GammaGamma

    df = pd.read_csv(CDNOW, sep=r"\s+", dtype={"customer_id": str})
    df["date"] = pd.to_datetime(df["date"].astype(str), format="%Y%m%d")
    end = pd.Timestamp("1997-10-01")
    days = (df[df["date"] < end].groupby(["customer_id", "date"])["dollar_value"].sum().reset_index()
            .sort_values(["customer_id", "date"]))
    g = days.groupby("customer_id")["date"]
    first, last, n = g.min(), g.max(), g.size()
    x = (n - 1).to_numpy(float)
    m = ParetoNBD.fit(x, ((last - first).dt.days / 7).to_numpy(float), ((end - first).dt.days / 7).to_numpy(float),
                      unit="weeks")
    np.testing.assert_allclose(m.params, LIFETIMES_PARETO, rtol=2e-3)
    repeat_mean = days[days.groupby("customer_id").cumcount() > 0].groupby("customer_id")["dollar_value"].mean()
    gg = GammaGamma.fit(x, repeat_mean.reindex(n.index).fillna(0).to_numpy())
    np.testing.assert_allclose((gg.p, gg.q, gg.gamma), LIFETIMES_GAMMA_GAMMA, rtol=2e-3)


def _events(rows):
    """Events as core.inputs.log.events returns them, from (customer, day, amount) rows."""
    df = pd.DataFrame(rows, columns=["customer_id", "day", "amount"])
    return df.assign(is_return=(df["amount"] < 0).astype(int))


def test_window_outcomes_count_purchase_days_and_net_spend_floored_at_zero():
    from core.models.value import window_outcomes

    ev = _events([("a", 10, 20.0), ("a", 10, 5.0), ("a", 12, -5.0), ("a", 15, 30.0), ("b", 11, -8.0), ("c", 9, 50.0)])
    got = window_outcomes(ev, [10], 5).set_index("customer_id")
    assert got.loc["a", "orders"] == 1 and got.loc["a", "spend"] == pytest.approx(20.0)   # days 10 and 12; 15 is out
    assert got.loc["a", "first_order_days"] == 0 and np.isnan(got.loc["b", "first_order_days"])
    assert window_outcomes(ev, [11], 5).set_index("customer_id").loc["a", "first_order_days"] == 4   # day 15
    assert got.loc["b", "orders"] == 0 and got.loc["b", "spend"] == 0.0                   # a return alone: no spend
    assert "c" not in got.index                                                            # before the window
    with pytest.raises(DataError, match="at least 1 day"):
        window_outcomes(ev, [10], 0)


def test_repeat_spend_leaves_the_first_purchase_day_out():
    from core.models.value import repeat_spend

    ev = _events([("a", 1, 100.0), ("a", 5, 20.0), ("a", 8, 40.0), ("a", 9, 1000.0), ("b", 2, 10.0),
                  ("c", 3, -4.0), ("c", 4, 7.0)])
    np.testing.assert_allclose(repeat_spend(ev, 9, ["a", "b", "c", "d"]), [30.0, 0.0, 0.0, 0.0])


def test_horizon_ratio_is_bgnbds_expected_orders_over_the_two_horizons():
    from core.models.btyd import BGNBD
    from core.models.value import horizon_ratio

    bg = BGNBD(0.25, 33.4, 0.75, 2.2)
    f, r, t = np.array([1.0, 4.0]), np.array([100.0, 10.0]), np.array([100.0, 200.0])
    np.testing.assert_array_equal(horizon_ratio(bg, f, r, t, 90, 90), [1.0, 1.0])
    x, t_x = f - 1, t - r
    want = bg.expected_purchases(x, t_x, t, 365) / bg.expected_purchases(x, t_x, t, 90)
    np.testing.assert_allclose(horizon_ratio(bg, f, r, t, 90, 365), want)
    assert (want > 1).all()


def test_a_value_model_refuses_negative_or_missing_spend_and_windows_without_spend():
    from core.models.value import ValueModel

    X = pd.DataFrame({"f": np.arange(40.0)})
    val = np.arange(40) >= 30
    with pytest.raises(DataError, match="negative or missing"):
        ValueModel.fit(X, np.r_[-1.0, np.ones(39)], np.ones(40), val, 30, seed=0)
    with pytest.raises(DataError, match="no customer of the training snapshots bought in the window"):
        ValueModel.fit(X, np.zeros(40), np.zeros(40), val, 30, seed=0)


def test_the_pareto_peer_keeps_the_better_of_the_default_and_the_previous_start():
    """A start far along the ridge of a young cohort's likelihood must not win over the
    default start when it ends lower."""
    from core.models.value import _best_pareto

    x, t_x, T, _ = _simulate_pareto(3000, 0.55, 60.0, 2.0, 200.0, 60.0, 1.0, seed=2)
    far = ParetoNBD(0.53, 62.0, 62.0, 7800.0)
    got = _best_pareto(x, t_x, T, far)
    lik = lambda m: paretonbd_log_likelihood(m.params, x, t_x, T).sum()  # noqa: E731
    assert lik(got) >= max(lik(ParetoNBD.fit(x, t_x, T)), lik(ParetoNBD.fit(x, t_x, T, start=far.params))) - 1e-9


def test_bgnbds_next_order_median_matches_a_simulation_of_its_wait():
    """Alive customers wait an exponential time at a rate drawn from Gamma(r + x, alpha + T):
    the median of the waits that end within 90 days, against 400,000 draws."""
    from core.models.btyd import BGNBD
    from core.models.value import bgnbd_next_order_days, naive_next_order_days

    bg = BGNBD(0.6, 40.0, 0.4, 7.0)
    rng = np.random.default_rng(1)
    for freq, tenure in [(1, 30.0), (5, 200.0), (20, 300.0)]:
        lam = rng.gamma(bg.r + freq - 1, 1 / (bg.alpha + tenure), 400_000)
        wait = rng.exponential(1 / lam)
        got = bgnbd_next_order_days(bg, [freq], [0.0], [tenure], 90.0)[0]
        assert got == pytest.approx(np.median(wait[wait <= 90]), rel=0.02)
    np.testing.assert_allclose(naive_next_order_days([10, 50, 5], [30, 20, np.nan], 90), [20, 0, 45])


def test_peer_values_at_another_horizon_reuse_the_fits_and_equal_a_fresh_fit():
    from core.models.value import peer_values

    x, t_x, T, _ = _simulate_pareto(2000, 0.6, 10.0, 0.7, 12.0, 39.0, 1.0, seed=5)
    freq, rec, m = x + 1, T - t_x, np.where(x > 0, 20.0 + x, 0.0)
    _, fits = peer_values(freq, rec, T, m, 13.0)
    again, same = peer_values(freq, rec, T, m, 26.0, fitted=fits)
    fresh, _ = peer_values(freq, rec, T, m, 26.0)
    assert same is not fits and all(same[k] is fits[k] for k in fits)
    pd.testing.assert_frame_equal(again, fresh)
