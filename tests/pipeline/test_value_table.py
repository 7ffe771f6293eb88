"""Value, orders and churn risk from a log (issue 32): learned from the events before the
cutoff alone, with the peers beside them, and a log too short refused in one line."""
import numpy as np
import pandas as pd
import pytest

from core.errors import DataError
from core.inputs import log
from core.inputs.synthetic import shopsphere_log
from core.models import value_evaluation as ve
from core.models.value import window_outcomes
from core.pipeline import value_table
from tests.support import REPO

CUTOFF = int((pd.Timestamp("2025-07-01") - pd.Timestamp("1970-01-01")).days)


@pytest.fixture(scope="module")
def events():
    spec = log.load_log_spec(REPO / "configs" / "shopsphere_log.toml")
    spec = log.LogSpec(**{**spec.__dict__, "attributes": None})
    ev, _ = log.events(shopsphere_log.generate_log(1200, seed=8), spec, "log")
    return ev, spec


@pytest.fixture(scope="module")
def predicted(events):
    ev, spec = events
    return value_table.value_predictions(ev, spec, None, CUTOFF, horizon=180, churn_horizon=90, seed=3)


def test_predictions_use_the_events_before_the_cutoff_alone(events, predicted):
    ev, spec = events
    later = ev[ev["day"] >= CUTOFF].copy()
    later["amount"] = later["amount"] * 7.0                      # whatever happens after the cutoff
    changed = pd.concat([ev[ev["day"] < CUTOFF], later], ignore_index=True)
    again = value_table.value_predictions(changed, spec, None, CUTOFF, horizon=180, churn_horizon=90, seed=3)
    pd.testing.assert_frame_equal(predicted.table, again.table)  # and seeded: the same figures again
    info = predicted.info["value_model"]
    assert info["horizon_days"] == 180 and all(c <= "2025-01-02" for c in info["training_cutoffs"])


def test_every_customer_who_bought_before_gets_sane_figures_that_rank_the_holdout(events, predicted):
    ev, _ = events
    t = predicted.table
    bought_before = ev.loc[(ev["day"] < CUTOFF) & (ev["amount"] > 0), "customer_id"].astype(str).unique()
    assert set(t["customer_id"]) == set(bought_before)
    assert (t["expected_spend"] >= 0).all() and (t["expected_orders"] >= 0).all()
    assert t["churn_risk"].between(0, 1).all() and np.allclose(t["churn_risk"] + t["p_buy"], 1.0)
    assert t["next_order_days"].between(0, 89).all() and t["bgnbd_next_order_days"].between(0, 90).all()
    after = window_outcomes(ev, [CUTOFF], 180).set_index("customer_id")["spend"].reindex(t["customer_id"]).fillna(0)
    assert ve.normalized_gini(after.to_numpy(), t["expected_spend"].to_numpy()) > 0.4
    assert ve.normalized_gini(after.to_numpy(), t["pnbd_spend"].to_numpy()) > 0.3


def test_a_log_too_short_for_the_models_is_refused_naming_the_history_it_needs(events):
    ev, spec = events
    first = int(ev["day"].min())
    with pytest.raises(DataError, match=r"holds 170 days before .*: value and churn models need at least 180 days"):
        value_table.value_predictions(ev, spec, None, first + 170, horizon=365)
    with pytest.raises(DataError, match="no line before"):
        value_table.value_predictions(ev, spec, None, first, horizon=365)
    assert value_table.trainable_horizon(first, first + 180, 365) == 30
    assert value_table.trainable_horizon(first, first + 1000, 365) == 365
