"""Each customer's predicted value, orders and churn risk at one cutoff of a log, with the
peers beside them (issue 32): :func:`value_predictions`.

The models learn from snapshots as the propensity model does: features from the events
strictly before each training cutoff, outcomes from the window after it, and every training
window ends on or before the cutoff predicted at (so nothing after it is seen). A horizon
longer than the log's history allows to train for is learned at the longest one it allows
and carried to the horizon wanted by BG/NBD's time shape
(:func:`core.models.value.horizon_ratio`); a log too short for even
:data:`MIN_TRAINED_HORIZON` days is refused in one line naming the span it needs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.errors import DataError
from core.inputs.log.attributes import Attributes
from core.inputs.log.events import day_iso
from core.inputs.log.spec import LogSpec
from core.models.features import learn_categories, model_frame
from core.models.value import (
    ValueModel,
    attach_outcomes,
    bgnbd_next_order_days,
    horizon_ratio,
    naive_next_order_days,
    peer_values,
    repeat_spend,
    window_outcomes,
)
from core.pipeline.log_table import snapshot_table

#: Days of history a training cutoff needs before it (a customer's first quarter).
MIN_HISTORY_DAYS = 90
#: Training snapshots at least (the latest of them stops the boosting), at most (the latest
#: ones: the customers as they are now matter most), and days between them.
MIN_SNAPSHOTS, MAX_SNAPSHOTS, SNAPSHOT_STEP_DAYS = 3, 6, 30
#: The most snapshot rows the models train on: a seeded random sample beyond (the boosters'
#: time grows with the rows; at 1.2 million customers six snapshots hold about 5 million).
MAX_TRAINING_ROWS = 300_000
#: The shortest horizon the models are trained at; a log that allows less is refused.
MIN_TRAINED_HORIZON = 30
#: The peers' figures each snapshot row gets as inputs (fitted at that row's cutoff).
PEER_INPUTS = ("bgnbd_orders", "pnbd_orders", "gg_spend", "bgnbd_value", "pnbd_value")
#: The peer figures the value and order models start from (:attr:`ValueModel.offsets`).
OFFSETS = {"spend": "pnbd_value", "orders": "pnbd_orders"}


@dataclass
class ValuePredictions:
    """What :func:`value_predictions` returns: ``table`` (one row per customer who bought
    before the cutoff: ``customer_id``; the product's ``expected_spend``, ``expected_orders``
    over the value horizon, ``p_buy`` and ``churn_risk`` over the churn horizon,
    ``next_order_days`` (median days to the next order for a customer who orders within the
    churn horizon as trained); the peers' ``bgnbd_next_order_days``, ``naive_next_order_days``,
    ``naive_spend``, ``naive_orders``, ``bgnbd_spend``, ``bgnbd_orders``, ``pnbd_spend``,
    ``pnbd_orders``, ``bgnbd_p_buy``, ``pnbd_p_buy``) and ``info`` (the horizons, the
    trained horizons and their training cutoffs, the peers' parameters, the trees)."""

    table: pd.DataFrame
    info: dict = field(default_factory=dict)


def trainable_horizon(first_day: int, cutoff: int, wanted: int) -> int:
    """The longest horizon (days, at most ``wanted``) for which :data:`MIN_SNAPSHOTS`
    training snapshots, :data:`SNAPSHOT_STEP_DAYS` apart with :data:`MIN_HISTORY_DAYS` of
    history each, have their windows end by ``cutoff``. Raises DataError when that is below
    :data:`MIN_TRAINED_HORIZON` days, naming the history the log needs."""
    room = cutoff - first_day - MIN_HISTORY_DAYS - (MIN_SNAPSHOTS - 1) * SNAPSHOT_STEP_DAYS
    if room < MIN_TRAINED_HORIZON:
        need = MIN_HISTORY_DAYS + (MIN_SNAPSHOTS - 1) * SNAPSHOT_STEP_DAYS + MIN_TRAINED_HORIZON
        raise DataError(f"the log holds {cutoff - first_day} days before {day_iso(cutoff)}: value and churn models "
                        f"need at least {need} days of history (three snapshots with a {MIN_TRAINED_HORIZON}-day "
                        "window each)")
    return int(min(wanted, room))


def training_cutoffs(first_day: int, cutoff: int, horizon: int) -> list[int]:
    """Cutoffs (day numbers, ascending) whose ``horizon``-day windows end by ``cutoff``,
    :data:`SNAPSHOT_STEP_DAYS` apart, each with :data:`MIN_HISTORY_DAYS` of history: the
    latest :data:`MAX_SNAPSHOTS`."""
    cuts, c = [], cutoff - horizon
    while c >= first_day + MIN_HISTORY_DAYS and len(cuts) < MAX_SNAPSHOTS:
        cuts.append(c)
        c -= SNAPSHOT_STEP_DAYS
    return sorted(cuts)


def _with_peers(ev: pd.DataFrame, table: pd.DataFrame, cut_days: np.ndarray,
                horizon: int) -> tuple[pd.DataFrame, dict]:
    """:data:`PEER_INPUTS` fitted at each cutoff over ``horizon`` days, on ``table``'s index;
    and the fits per cutoff."""
    cols, fits, previous = pd.DataFrame(index=table.index, columns=list(PEER_INPUTS), dtype=float), {}, None
    for cut in np.unique(cut_days):  # each cutoff's fits start where the previous cutoff's ended
        rows = cut_days == cut
        t = table.loc[rows]
        got, fits[int(cut)] = peer_values(t["frequency"], t["recency_days"], t["tenure_days"],
                                          repeat_spend(ev, int(cut), t["customer_id"]), horizon, previous,
                                          p_buy=False)
        previous = fits[int(cut)]
        cols.loc[rows, list(PEER_INPUTS)] = got[list(PEER_INPUTS)].to_numpy()
    return cols.astype(float), fits


def _sampled(mask: np.ndarray, seed: int) -> np.ndarray:
    """``mask`` (bool, shape (n,)) with at most :data:`MAX_TRAINING_ROWS` of its True rows
    kept, drawn at random with ``seed`` (every snapshot in proportion, on average)."""
    rows = np.flatnonzero(mask)
    if len(rows) <= MAX_TRAINING_ROWS:
        return mask
    keep = np.zeros_like(mask)
    keep[np.random.default_rng(seed).choice(rows, MAX_TRAINING_ROWS, replace=False)] = True
    return keep


def _fit_at(ev: pd.DataFrame, spec: LogSpec, attrs: Attributes | None, cutoff: int, horizon: int, seed: int,
            n_jobs: int) -> tuple[ValueModel, pd.DataFrame, dict]:
    """A :class:`ValueModel` at ``horizon`` days trained on the snapshots before ``cutoff``;
    its inputs at ``cutoff`` (one row per customer) and what it was trained on."""
    first = int(ev["day"].min())
    cuts = training_cutoffs(first, cutoff, horizon)
    table, ds, _ = snapshot_table(ev, spec, cuts + [cutoff], attrs)
    cut_days = (pd.to_datetime(table["snapshot_date"]) - pd.Timestamp("1970-01-01")).dt.days.to_numpy()
    peers, fits = _with_peers(ev, table, cut_days, horizon)
    train = _sampled(cut_days < cutoff, seed)
    categories = learn_categories(table[train], ds)
    X, _ = model_frame(table, ds, categories)
    X = pd.concat([X, peers], axis=1)
    outcome = attach_outcomes(table, cut_days, window_outcomes(ev, cuts, horizon))
    is_val = cut_days[train] == max(cuts)
    model = ValueModel.fit(X[train], outcome["spend"].to_numpy()[train], outcome["orders"].to_numpy()[train],
                           is_val, horizon, seed, n_jobs, offsets=OFFSETS,
                           first_order_days=outcome["first_order_days"].to_numpy()[train])
    now = cut_days == cutoff
    at = X[now].assign(customer_id=table.loc[now, "customer_id"].astype(str).to_numpy())
    info = {"horizon_days": horizon, "training_cutoffs": [day_iso(c) for c in cuts],
            "training_rows": int(train.sum()), "snapshot_rows": int((cut_days < cutoff).sum()), **model.info,
            "peers_at_cutoff": {k: (None if v is None else vars(v)) for k, v in fits[cutoff].items()}}
    return model, at, info


def value_predictions(ev: pd.DataFrame, spec: LogSpec, attrs: Attributes | None, cutoff: int, horizon: int = 365,
                      churn_horizon: int = 90, seed: int = 0, n_jobs: int = 1) -> ValuePredictions:
    """Each customer's expected spend and orders over ``horizon`` days from ``cutoff`` (a day
    number), their P(a purchase) and churn risk (P(none)) over ``churn_horizon`` days, and
    the peers' figures (see :class:`ValuePredictions`), from the events strictly before
    ``cutoff`` (``ev`` as :func:`core.inputs.log.events.events` returns it; events on or
    after the cutoff are never read).

    Raises DataError when the log has no line before the cutoff or too short a history
    (:func:`trainable_horizon`), or a training window holds no spend."""
    ev = ev[ev["day"].to_numpy() < cutoff]
    if ev.empty:
        raise DataError(f"the log has no line before {day_iso(cutoff)}: nothing to predict from")
    first = int(ev["day"].min())
    h_value = trainable_horizon(first, cutoff, horizon)
    h_churn = trainable_horizon(first, cutoff, churn_horizon)
    model, at, info_value = _fit_at(ev, spec, attrs, cutoff, h_value, seed, n_jobs)
    churn_model, at_churn, info_churn = (model, at, info_value) if h_churn == h_value else \
        _fit_at(ev, spec, attrs, cutoff, h_churn, seed, n_jobs)
    snap = at  # the rows at the cutoff: one per customer who bought before it
    f, r, t = (snap[c].to_numpy(float) for c in ("frequency", "recency_days", "tenure_days"))
    m = repeat_spend(ev, cutoff, snap["customer_id"])
    peers, fits = peer_values(f, r, t, m, horizon, p_buy=False)
    churn_peers, _ = peer_values(f, r, t, m, churn_horizon, fitted=fits)
    pred = model.predict(snap)
    ratio = horizon_ratio(fits["bgnbd"], f, r, t, h_value, horizon)
    churn_pred = churn_model.predict(at_churn).set_index(at_churn["customer_id"].to_numpy()).loc[snap["customer_id"]]
    p_buy = churn_pred["p_buy"].to_numpy()
    if h_churn < churn_horizon:  # carried to the horizon wanted by BG/NBD's P(a purchase) at both
        bg = fits["bgnbd"]
        x, T = f - 1, t
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = bg.p_buy(x, T - r, T, churn_horizon) / bg.p_buy(x, T - r, T, h_churn)
        p_buy = np.clip(p_buy * np.nan_to_num(scale, nan=1.0), 0.0, 1.0)
    naive = window_outcomes(ev, [cutoff - horizon], horizon).set_index("customer_id").reindex(snap["customer_id"])
    table = pd.DataFrame({
        "customer_id": snap["customer_id"].to_numpy(),
        "expected_spend": pred["expected_spend"].to_numpy() * ratio,
        "expected_orders": pred["expected_orders"].to_numpy() * ratio,
        "p_buy": p_buy, "churn_risk": 1.0 - p_buy, "next_order_days": churn_pred["next_order_days"].to_numpy(),
        "bgnbd_next_order_days": bgnbd_next_order_days(fits["bgnbd"], f, r, t, h_churn),
        "naive_next_order_days": naive_next_order_days(r, snap["gap_mean"].to_numpy(float), h_churn),
        "naive_spend": naive["spend"].fillna(0.0).to_numpy(), "naive_orders": naive["orders"].fillna(0).to_numpy(float),
        "bgnbd_spend": peers["bgnbd_value"].to_numpy(), "bgnbd_orders": peers["bgnbd_orders"].to_numpy(),
        "pnbd_spend": peers["pnbd_value"].to_numpy(), "pnbd_orders": peers["pnbd_orders"].to_numpy(),
        "bgnbd_p_buy": churn_peers["bgnbd_p_buy"].to_numpy(), "pnbd_p_buy": churn_peers["pnbd_p_buy"].to_numpy()})
    info = {"cutoff": day_iso(cutoff), "horizon_days": horizon, "churn_horizon_days": churn_horizon,
            "value_model": info_value, "churn_model": info_churn,
            "extended": h_value < horizon or h_churn < churn_horizon,
            "peers": {k: (None if v is None else vars(v)) for k, v in fits.items()}}
    return ValuePredictions(table, info)

