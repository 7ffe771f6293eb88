"""Transaction logs: events, snapshots, features strictly before each cutoff, labels after
it, BG/NBD and Gamma-Gamma, the paired bootstrap, and bad logs."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from core.errors import DataError
from core.inputs import log
from core.models import evaluation
from core.models.btyd import BGNBD, GammaGamma
from core.pipeline import log_table
from tests.support import CDNOW, REPO

SPEC = log.LogSpec(name="shop", customer_id="cid", timestamp="ts", amount="amount", order_id="order",
                   product="sku", channel="channel", horizon_days=30, cutoffs=("2024-04-01", "2024-05-01", "2024-06-01"))


def _day(iso: str) -> int:
    return int((pd.Timestamp(iso) - log.EPOCH).days)


def _toy_log() -> pd.DataFrame:
    rows = [  # cid, ts, amount, order, sku, channel
        ("a", "2024-01-05 10:00", 20.0, "o1", "p1", "web"),
        ("a", "2024-02-10 09:00", 30.0, "o2", "p2", "web"),
        ("a", "2024-03-20 18:30", 10.0, "o3", "p1", "app"),
        ("a", "2024-03-20 19:00", -10.0, "o4", "p1", "app"),     # same-day return: that day nets to 0
        ("a", "2024-04-10 12:00", 15.0, "o5", "p3", "web"),      # in the first label window
        ("b", "2024-01-15 08:00", 50.0, "o6", "p4", "store"),
        ("b", "2024-03-31 23:59", 5.0, "o7", "p4", "store"),     # the last day before the first cutoff
        ("b", "2024-05-15 10:00", -50.0, "o8", "p4", "store"),   # a return only: not a purchase
        ("c", "2024-02-01 10:00", -5.0, "o9", "p5", "web"),      # only returns, ever
        ("d", "2024-04-20 10:00", 40.0, "o10", "p6", "web"),     # first purchase after the first cutoff
        ("d", "2024-06-15 10:00", 40.0, "o11", "p6", "web"),
        ("e", "2024-06-30 10:00", 10.0, "o12", "p7", "web"),     # keeps the log running to the end of June
    ]
    return pd.DataFrame(rows, columns=["cid", "ts", "amount", "order", "sku", "channel"])


def _snapshots(raw, spec=SPEC):
    ev, notes = log.events(raw, spec, "toy.csv")
    cuts = log.cutoff_days(spec, int(ev["day"].min()), int(ev["day"].max()))
    tab, ds, summary = log_table.snapshot_table(ev, spec, cuts)
    return tab, ds, notes


def test_features_and_labels_against_a_hand_worked_log():
    tab, ds, notes = _snapshots(_toy_log())
    assert notes["customers_with_only_returns"] == 1
    first = tab[tab["snapshot_date"] == "2024-04-01"].set_index("customer_id")
    # c (only returns) and d (no purchase yet) are not in the first snapshot
    assert sorted(first.index) == ["a", "b"]
    a, b = first.loc["a"], first.loc["b"]
    # a bought on 01-05 and 02-10; 03-20 nets to 0 (a return the same day), so it is no purchase day
    assert a["frequency"] == 2 and a["recency_days"] == _day("2024-04-01") - _day("2024-02-10")
    assert a["tenure_days"] == _day("2024-04-01") - _day("2024-01-05")
    assert a["spend_total"] == 50.0 and a["spend_mean"] == 25.0 and a["spend_max"] == 30.0
    assert a["gap_mean"] == _day("2024-02-10") - _day("2024-01-05")
    assert a["return_share"] == pytest.approx(1 / 4)
    assert a["purchased_next_30d"] == 1                        # 04-10 lies in [04-01, 05-01)
    assert b["frequency"] == 2 and b["recency_days"] == 1 and b["purchases_30d"] == 1 and b["spend_30d"] == 5.0
    assert b["purchased_next_30d"] == 0
    second = tab[tab["snapshot_date"] == "2024-05-01"].set_index("customer_id")
    assert second.loc["d", "frequency"] == 1 and second.loc["b", "purchased_next_30d"] == 0  # a return only
    third = tab[tab["snapshot_date"] == "2024-06-01"].set_index("customer_id")
    assert third.loc["d", "purchased_next_30d"] == 1
    assert {c.name for c in ds.columns} >= {"recency_days", "frequency", "spend_total", "gap_mean", "trend"}
    assert ds.snapshot_column == "snapshot_date" and "_bgnbd_p" in ds.evaluation_columns


def test_events_on_or_after_a_cutoff_never_change_its_features():
    raw = _toy_log()
    before, _, _ = _snapshots(raw)
    later = raw.copy()
    later.loc[later["ts"] >= "2024-04-01", "amount"] *= 7                   # change every later event
    extra = pd.DataFrame([("a", "2024-04-01 00:00", 999.0, "o99", "p9", "web"),  # on the cutoff itself
                          ("b", "2024-06-20 10:00", 5.0, "o98", "p4", "store")],
                         columns=raw.columns)
    after, _, _ = _snapshots(pd.concat([later, extra], ignore_index=True))
    cut = "2024-04-01"
    feats = [c for c in before.columns if c not in ("purchased_next_30d", "_bgnbd_p", "_expected_spend",
                                                   "bgnbd_p_alive", "bgnbd_expected")]
    x = before[before["snapshot_date"] == cut].set_index("customer_id")[feats[2:]]
    y = after[after["snapshot_date"] == cut].set_index("customer_id")[feats[2:]]
    pd.testing.assert_frame_equal(x, y)
    # the BG/NBD columns are fitted on the same pre-cutoff histories: unchanged too
    for col in ("bgnbd_p_alive", "bgnbd_expected", "_bgnbd_p"):
        np.testing.assert_allclose(before.loc[before["snapshot_date"] == cut, col],
                                   after.loc[after["snapshot_date"] == cut, col])


def test_spend_features_do_not_depend_on_the_order_the_engine_adds_them_in():
    """Amounts reach the SQL as whole ten-thousandths (log.FIXED_POINT), so every sum is a
    sum of integers: the same in any order (DuckDB adds in the order its threads reach the
    rows). Amounts such as 0.1 + 0.2 + 0.3 sum to other doubles in other orders."""
    from core.inputs.synthetic import shopsphere_log

    raw = shopsphere_log.generate_log(600, seed=5)
    spec = log.load_log_spec(REPO / "configs" / "shopsphere_log.toml")
    spec = log.LogSpec(**{**spec.__dict__, "attributes": None})
    rng = np.random.default_rng(0)
    raw["unit_price"] = np.round(rng.uniform(0.01, 99.99, len(raw)), 2)   # cents: not exact in binary
    ev, _ = log.events(raw, spec, "log")
    cuts = log.cutoff_days(spec, int(ev["day"].min()), int(ev["day"].max()))
    a, _ = log.raw_features(ev, spec, cuts)
    b, _ = log.raw_features(ev.sample(frac=1.0, random_state=3).reset_index(drop=True), spec, cuts)
    money = [c for c in a.columns if c.startswith("spend") or c in ("units_per_purchase", "gap_sd")]
    assert money and a[money].notna().any().all()
    pd.testing.assert_frame_equal(a[money], b[money], check_exact=True)
    cut = a["cutoff"].max()   # and the value is pandas' sum of the amounts before the cutoff, to 1e-6
    before = ev[ev["day"] < cut].groupby("customer_id", observed=True)["amount"].sum()
    got = a[a["cutoff"] == cut].set_index("customer_id")["spend_total"]
    want = before.rename(index=str).reindex(got.index.astype(str))
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=0, atol=1e-6)


@pytest.mark.skipif(not CDNOW.exists(), reason="../shared/data/cdnow_master.txt is absent")
def test_bgnbd_recovers_the_published_cdnow_parameters():
    """Calibration to 1997-09-30, weeks, purchase days as transactions, all 23,570
    customers: r = 0.251, alpha = 4.77, a = 0.746, b = 2.22 (the issue's reference fit)."""
    df = pd.read_csv(CDNOW, sep=r"\s+", dtype={"customer_id": str})
    df["date"] = pd.to_datetime(df["date"].astype(str), format="%Y%m%d")
    end = pd.Timestamp("1997-10-01")  # the calibration period ends with 1997-09-30
    days = df[df["date"] < end].groupby(["customer_id", "date"]).size().reset_index()
    g = days.groupby("customer_id")["date"]
    first, last, n = g.min(), g.max(), g.size()
    assert len(n) == 23_570
    m = BGNBD.fit((n - 1).to_numpy(float), ((last - first).dt.days / 7).to_numpy(float),
                  ((end - first).dt.days / 7).to_numpy(float), unit="weeks")
    assert m.r == pytest.approx(0.251, abs=0.002) and m.alpha == pytest.approx(4.77, abs=0.03)
    assert m.a == pytest.approx(0.746, abs=0.005) and m.b == pytest.approx(2.22, abs=0.02)


def _simulate_bgnbd(n, r, alpha, a, b, T, horizon, seed):
    """Customers from the BG/NBD process (Fader, Hardie & Lee 2005, section 2): histories in
    (0, T] and whether they buy in (T, T + horizon]."""
    rng = np.random.default_rng(seed)
    lam, p = rng.gamma(r, 1 / alpha, n), rng.beta(a, b, n)
    x, t_x, buys = np.zeros(n), np.zeros(n), np.zeros(n, dtype=int)
    for i in range(n):
        t, alive = 0.0, True
        while alive:
            t += rng.exponential(1 / lam[i])
            if t > T + horizon:
                break
            if t <= T:
                x[i] += 1
                t_x[i] = t
            else:
                buys[i] = 1
                break
            alive = rng.random() >= p[i]
    return x, t_x, np.full(n, T), buys


def test_bgnbd_fit_and_p_buy_on_simulated_customers():
    x, t_x, T, buys = _simulate_bgnbd(20_000, 0.5, 8.0, 0.8, 3.0, 52.0, 8.0, seed=4)
    m = BGNBD.fit(x, t_x, T, unit="weeks")
    assert m.r == pytest.approx(0.5, rel=0.15) and m.alpha == pytest.approx(8.0, rel=0.25)
    p = m.p_buy(x, t_x, T, 8.0)
    # calibrated: predicted and observed purchase rates agree by decile of the prediction
    bins = pd.qcut(p, 10, labels=False, duplicates="drop")
    cal = pd.DataFrame({"p": p, "y": buys, "bin": bins}).groupby("bin").mean()
    assert (cal["p"] - cal["y"]).abs().max() < 0.03
    assert roc_auc_score(buys, p) > 0.75


def test_the_fit_likelihood_table_equals_the_likelihood_formula():
    from core.models.btyd import _LikelihoodTable, bgnbd_log_likelihood

    rng = np.random.default_rng(3)
    T = rng.integers(1, 400, 5_000).astype(float)
    x = rng.poisson(1.5, 5_000).astype(float)
    t_x = np.where(x > 0, np.floor(rng.random(5_000) * T), 0.0)
    table = _LikelihoodTable(x, t_x, T)
    for params in [(0.25, 4.8, 0.75, 2.2), (2.0, 30.0, 0.1, 9.0)]:
        np.testing.assert_allclose(table.log_likelihood(params), bgnbd_log_likelihood(params, x, t_x, T),
                                   rtol=1e-12, atol=1e-12)


def test_text_columns_become_categoricals_ordered_as_the_text_sorts():
    cat = log.categorical(pd.Series(["b", None, "a", "b", "é", "A"], dtype="str"))
    assert list(cat.categories) == ["A", "a", "b", "é"]   # by UTF-8 bytes, as DuckDB and Spark order text
    assert list(cat.codes) == [2, -1, 1, 2, 3, 0]
    assert list(log.categorical(pd.Series([10, 2, 10])).categories) == ["10", "2"]  # numbers as written
    assert (log.categorical(pd.Series([None, None], dtype=object)).codes == -1).all()


def test_gamma_gamma_shrinks_towards_the_population_mean():
    rng = np.random.default_rng(1)
    nu = rng.gamma(3.0, 1 / 15.0, 20_000)          # q = 3, gamma = 15
    x = rng.integers(1, 8, 20_000).astype(float)
    m = np.array([rng.gamma(6.0, 1 / v, int(k)).mean() for v, k in zip(nu, x)])  # p = 6
    gg = GammaGamma.fit(x, m)
    assert gg.p == pytest.approx(6.0, rel=0.15) and gg.q == pytest.approx(3.0, rel=0.1)
    e = gg.expected_spend(x, m)
    pop = gg.p * gg.gamma / (gg.q - 1)
    assert np.all((e - m) * (pop - m) >= -1e-9)     # each estimate lies between the customer's mean and the population's


def test_paired_bootstrap_difference_matches_sklearn_on_the_same_resamples():
    rng = np.random.default_rng(3)
    y = (rng.random(2000) < 0.1).astype(int)
    a = rng.random(2000) + 0.5 * y
    b = rng.random(2000) + 0.3 * y
    d = evaluation.paired_bootstrap_difference(y, a, b, 200, seed=9, batch=50)
    assert d["roc_auc"][0] == pytest.approx(roc_auc_score(y, a) - roc_auc_score(y, b))
    draw = np.random.default_rng(9)
    diffs = []
    while len(diffs) < 200:
        for rows in draw.integers(0, len(y), size=(50, len(y))):
            if 0 < y[rows].sum() < len(rows) and len(diffs) < 200:
                diffs.append((roc_auc_score(y[rows], a[rows]) - roc_auc_score(y[rows], b[rows]),
                              average_precision_score(y[rows], a[rows]) - average_precision_score(y[rows], b[rows])))
    diffs = np.array(diffs)
    assert d["roc_auc"][1:] == pytest.approx(np.quantile(diffs[:, 0], [0.025, 0.975]).tolist(), abs=1e-12)
    assert d["pr_auc"][1:] == pytest.approx(np.quantile(diffs[:, 1], [0.025, 0.975]).tolist(), abs=1e-12)


@pytest.mark.parametrize("change, message", [
    (lambda r: r.assign(ts=r["ts"].where(r.index != 3, "next tuesday")), "column 'ts': 'next tuesday' at row 4 is not a timestamp"),
    (lambda r: r.assign(amount=r["amount"].astype(object).where(r.index != 2, "12,5 EUR")), "column 'amount': '12,5 EUR' at row 3 is not a number"),
    (lambda r: r.assign(ts=r["ts"].where(r.index != 1, "2024-02-10T09:00:00+02:00")), "'2024-02-10T09:00:00\\+02:00' at row 2 is not in the same form"),
])
def test_bad_log_lines_are_named(change, message):
    with pytest.raises(DataError, match=message):
        log.events(change(_toy_log()), SPEC, "toy.csv")


def test_short_logs_and_cutoffs_outside_the_log_are_refused():
    ev, _ = log.events(_toy_log(), SPEC, "toy.csv")
    first, last = int(ev["day"].min()), int(ev["day"].max())
    with pytest.raises(DataError, match="less than three label windows \\(180 days"):
        log.cutoff_days(log.LogSpec(name="s", customer_id="cid", timestamp="ts", amount="amount", horizon_days=60),
                        first, first + 100)
    bad = log.LogSpec(name="s", customer_id="cid", timestamp="ts", amount="amount", cutoffs=("2024-06-15",))
    with pytest.raises(DataError, match="cutoff 2024-06-15 lies outside the log"):
        log.cutoff_days(bad, first, last)
    assert log.cutoff_days(log.LogSpec(name="s", customer_id="cid", timestamp="ts", amount="amount", step_days=30,
                                       start="2024-03-01"), first, last) == [_day("2024-03-01"), _day("2024-03-31"),
                                                                            _day("2024-04-30"), _day("2024-05-30")]
    with pytest.raises(DataError, match="reaches the test cutoff"):
        log.check_windows([_day("2024-05-10"), _day("2024-06-01")], 30)


def test_duplicated_lines_are_dropped_with_order_ids_and_kept_without():
    raw = pd.concat([_toy_log(), _toy_log().iloc[[0]]], ignore_index=True)
    _, notes = log.events(raw, SPEC, "toy.csv")
    assert notes["duplicate_lines_dropped"] == 1
    no_ids = log.LogSpec(name="s", customer_id="cid", timestamp="ts", amount="amount")
    ev, notes = log.events(raw.drop(columns="order"), no_ids, "toy.csv")
    assert notes["identical_lines_kept"] == 1 and len(ev) == len(raw)


def test_a_log_spec_names_its_file_on_error(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text('kind = "log"\nname = "x"\ncustomer_id = "c"\ntimestamp = "t"\namount = "a"\nhorizon = 30\n')
    with pytest.raises(DataError, match="bad.toml: unknown key 'horizon'"):
        log.load_log_spec(p)
    p.write_text('name = "x"\n')
    with pytest.raises(DataError, match='not a log spec'):
        log.load_log_spec(p)
    assert log.load_log_spec(REPO / "configs" / "cdnow.toml").horizon_days == 30


def test_attributes_join_as_of_each_cutoff(tmp_path):
    path = tmp_path / "people.csv"
    pd.DataFrame({"cid": ["a", "b", "d"], "joined": ["2023-12-01", "2024-01-15", "2024-04-20"],
                  "age_band": ["25-34", None, "65+"], "score": [1.5, 2.0, None]}).to_csv(path, index=False)
    spec = log.LogSpec(**{**SPEC.__dict__, "attributes": str(path),
                          "attribute_kinds": {"joined": "date", "age_band": "categorical", "score": "numeric"}})
    ev, _ = log.events(_toy_log(), spec, "toy.csv")
    cuts = log.cutoff_days(spec, int(ev["day"].min()), int(ev["day"].max()))
    tab, ds, summary = log_table.snapshot_table(ev, spec, cuts, log.read_attributes(spec))
    first = tab[tab["snapshot_date"] == "2024-04-01"].set_index("customer_id")
    assert first.loc["a", "joined_days"] == _day("2024-04-01") - _day("2023-12-01")
    assert pd.isna(first.loc["a", "age_band"]) is False and first.loc["a", "age_band"] == "25-34"
    assert pd.isna(first.loc["b", "age_band"]) and first.loc["b", "score"] == 2.0
    second = tab[tab["snapshot_date"] == "2024-05-01"].set_index("customer_id")
    # d joined on 04-20, before the 05-01 cutoff; e has no attributes row
    assert second.loc["d", "joined_days"] == _day("2024-05-01") - _day("2024-04-20")
    third = tab[tab["snapshot_date"] == "2024-06-01"].set_index("customer_id")
    assert "e" not in third.index or pd.isna(third.loc["e", "joined_days"])
    kinds = {c.name: (c.kind, c.group) for c in ds.columns}
    assert kinds["joined_days"] == ("duration", "demographics") and kinds["age_band"] == ("categorical", "demographics")
    assert summary["attributes"]["rows"] == 3


@pytest.mark.parametrize("table, message", [
    ({"cid": ["a", "a"], "x": ["u", "v"]}, "'a' at line 3 is not a unique id"),
    ({"cid": ["a", None], "x": ["u", "v"]}, "an empty value at line 3 is not an id"),
    ({"who": ["a"], "x": ["u"]}, "missing the id column 'cid'"),
])
def test_bad_attribute_tables_are_named(tmp_path, table, message):
    path = tmp_path / "people.csv"
    pd.DataFrame(table).to_csv(path, index=False)
    spec = log.LogSpec(**{**SPEC.__dict__, "attributes": str(path)})
    with pytest.raises(DataError, match=message):
        log.read_attributes(spec)


def test_attribute_values_not_of_their_kind_are_named(tmp_path):
    path = tmp_path / "people.csv"
    pd.DataFrame({"cid": ["a", "b"], "x": ["2024-01-01", "soon"], "n": ["1", "two"]}).to_csv(path, index=False)
    for kinds, message in [({"x": "date"}, "'x': 'soon' at line 3 is not a date"),
                           ({"n": "count"}, "'n': 'two' at line 3 is not a number"),
                           ({"gone": "numeric"}, "missing attribute column 'gone'")]:
        spec = log.LogSpec(**{**SPEC.__dict__, "attributes": str(path), "attribute_kinds": kinds})
        with pytest.raises(DataError, match=message):
            log.read_attributes(spec)
    with pytest.raises(DataError, match="attribute 'x' has kind 'text'"):
        log.LogSpec(**{**SPEC.__dict__, "attributes": str(path), "attribute_kinds": {"x": "text"}})


def test_scoring_table_uses_the_events_before_the_cutoff_and_the_runs_channels():
    ev, _ = log.events(_toy_log(), SPEC, "toy.csv")
    tab, notes = log_table.scoring_table(ev, SPEC, "2024-04-01", channels=["store", "web"])
    assert notes == {"cutoff": "2024-04-01", "events_after_cutoff_ignored": 5}
    assert SPEC.target not in tab and sorted(tab["customer_id"]) == ["a", "b"]
    snap, _, _ = log_table.snapshot_table(ev, SPEC, [_day("2024-04-01")], channels=["store", "web"])
    pd.testing.assert_frame_equal(tab.reset_index(drop=True), snap.drop(columns=[SPEC.target]).reset_index(drop=True))
    assert tab.set_index("customer_id").loc["b", "channel_share_0"] == 1.0   # store, the run's level 0
    latest, notes = log_table.scoring_table(ev, SPEC, None, channels=["web"])
    assert notes["cutoff"] == "2024-07-01" and notes["events_after_cutoff_ignored"] == 0
    with pytest.raises(DataError, match="before the log's first event"):
        log_table.scoring_table(ev, SPEC, "2023-01-01", channels=[])


def test_generated_log_is_seeded_and_reads_with_its_spec(tmp_path):
    from core.inputs.synthetic import shopsphere_log

    a, b = shopsphere_log.generate_log(800, seed=5), shopsphere_log.generate_log(800, seed=5)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(shopsphere_log.generate_log(800, seed=6))
    assert not a.duplicated().any() and a["customer_id"].nunique() == 800
    assert (a["quantity"] < 0).any() and set(a["channel"]) == set(shopsphere_log.CHANNELS)
    # the November-December peak
    month = a.loc[a["quantity"] > 0, "ordered_at"].dt.month.value_counts()
    assert month[12] > 1.3 * month[[5, 6, 7]].mean()
    a.to_parquet(tmp_path / "log.parquet")
    attrs = shopsphere_log.attributes(800, seed=5)
    attrs.to_parquet(tmp_path / "customers.parquet")
    spec = log.load_log_spec(REPO / "configs" / "shopsphere_log.toml")
    spec = log.LogSpec(**{**spec.__dict__, "attributes": str(tmp_path / "customers.parquet")})
    ev, notes = log.events(log.read_log(tmp_path / "log.parquet", spec), spec, "log.parquet")
    assert "duplicate_lines_dropped" not in notes
    # every first order is on the signup date
    first = ev.groupby("customer_id")["day"].min()
    signup = log.read_attributes(spec).table.set_index("customer_id")["signup_date"]
    assert (first == signup.loc[first.index].astype(int)).all()


def test_attributes_path_is_kept_absolute(tmp_path, monkeypatch):
    (tmp_path / "spec.toml").write_text('kind = "log"\nname = "x"\ncustomer_id = "c"\ntimestamp = "t"\n'
                                        'amount = "a"\nattributes = "people.csv"\n')
    monkeypatch.chdir(tmp_path)
    assert log.load_log_spec("spec.toml").attributes == str(tmp_path / "people.csv")
