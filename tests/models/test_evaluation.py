"""Evaluation: ROC-AUC and PR-AUC (average precision), lift and deciles, bootstrap intervals, capture, budget and profit, the quality grade."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from core.models import evaluation


def test_pr_auc_is_average_precision_and_constant_score_gives_prevalence():
    y = np.array([1, 0, 0, 1, 0, 0, 0, 0, 1, 0])
    m = evaluation.classification_metrics(y, np.full(10, 0.3))
    assert m["pr_auc"] == pytest.approx(0.3)
    p = np.array([0.9, 0.8, 0.1, 0.7, 0.2, 0.3, 0.35, 0.05, 0.6, 0.4])
    # ranks: 1(0.9) 0(0.8) 1(0.7) 1(0.6) -> AP = (1/1 + 2/3 + 3/4) / 3
    assert evaluation.classification_metrics(y, p)["pr_auc"] == pytest.approx((1 + 2 / 3 + 3 / 4) / 3)
    assert average_precision_score(y, p) == pytest.approx((1 + 2 / 3 + 3 / 4) / 3)


def test_lift_and_deciles():
    y = np.r_[np.ones(10), np.zeros(90)].astype(int)
    p = np.linspace(1, 0, 100)  # the 10 buyers have the 10 highest scores
    assert evaluation.top_share_lift(y, p, 0.1) == pytest.approx(10.0)
    table = evaluation.decile_table(y, p)
    assert table["buyers"].tolist() == [10] + [0] * 9
    assert table["cum_buyers_share"].iloc[0] == 1.0
    cuts = np.arange(1, 10) / 10  # 0.1 .. 0.9
    assert evaluation.decile_of(np.array([0.95, 0.9, 0.55, 0.05]), cuts).tolist() == [1, 2, 5, 10]


def test_pr_auc_is_average_precision():
    y = np.array([0, 1, 0, 0, 1, 0, 0, 0])
    assert evaluation.classification_metrics(y, np.full(8, 0.5))["pr_auc"] == pytest.approx(0.25)
    # step-wise AP for ranks 1(+) 2(-) 3(+): (1/1 + 2/3) / 2; the trapezoid area would differ
    p = np.array([0.1, 0.9, 0.8, 0.2, 0.7, 0.3, 0.05, 0.01])
    assert evaluation.classification_metrics(y, p)["pr_auc"] == pytest.approx((1 + 2 / 3) / 2)


def test_bootstrap_intervals_match_sklearn_on_the_same_resamples():
    rng = np.random.default_rng(1)
    y = (rng.random(3000) < 0.2).astype(int)
    p = np.round(rng.random(3000) * 0.6 + 0.3 * y * rng.random(3000), 2)  # ties on purpose
    order, starts, ys = evaluation._rank_levels(y, p)
    w = np.bincount(rng.integers(0, 3000, 3000), minlength=3000)
    auc, ap = evaluation._weighted_auc_ap(w[order][None, :], ys, starts)
    assert auc[0] == pytest.approx(roc_auc_score(y, p, sample_weight=w), abs=1e-12)
    assert ap[0] == pytest.approx(average_precision_score(y, p, sample_weight=w), abs=1e-12)
    ci = evaluation.bootstrap_intervals(y, p, 300, seed=5, batch=50)
    # the same resamples drawn by hand (rows with replacement, 50 at a time), scored by sklearn
    draw = np.random.default_rng(5)
    aucs, aps = [], []
    while len(aucs) < 300:
        for rows in draw.integers(0, len(y), size=(50, len(y))):
            if 0 < y[rows].sum() < len(rows) and len(aucs) < 300:
                aucs.append(roc_auc_score(y[rows], p[rows]))
                aps.append(average_precision_score(y[rows], p[rows]))
    assert ci["roc_auc"] == pytest.approx(np.quantile(aucs, [0.025, 0.975]).tolist(), abs=1e-12)
    assert ci["pr_auc"] == pytest.approx(np.quantile(aps, [0.025, 0.975]).tolist(), abs=1e-12)


def test_capture_budget_profit_on_a_known_ranking():
    y = np.array([1, 1, 0, 1, 0, 0, 0, 0, 0, 0])
    p = np.linspace(0.9, 0.0, 10)
    cap = evaluation.capture_table(y, p, shares=(0.5, 0.7, 0.9), base_size=1000)
    # buyers at ranks 1, 2, 4: half of 3 buyers -> 2 contacts; 70% -> 3 buyers -> 4 contacts
    assert cap["contacts"].tolist() == [2, 4, 4]
    assert cap["contacts_in_base"].tolist() == [200, 400, 400]
    bud = evaluation.budget_table(y, p, budgets=(0.2, 0.5))
    assert bud["buyers"].tolist() == [2, 3]
    assert bud["precision"].tolist() == [1.0, 0.6]
    assert bud["expected_buyers"].iloc[0] == pytest.approx(0.9 + 0.8)
    pf = evaluation.profit_at_threshold(y, p, contact_cost=1.0, conversion_value=2.5)
    assert pf["threshold"] == pytest.approx(0.4)
    assert pf["contacts"] == 6  # 0.9 .. 0.4
    assert (pf["tp"], pf["fp"], pf["fn"], pf["tn"]) == (3, 3, 0, 4)
    assert pf["realised_profit"] == pytest.approx(3 * 2.5 - 6 * 1.0)
    with pytest.raises(ValueError):
        evaluation.profit_at_threshold(y, p, 0.0, 1.0)


def test_quality_grade_bands():
    assert evaluation.quality_grade(0.89, 3.9, 0.18)["grade"] == "Excellent"
    assert evaluation.quality_grade(0.89, 2.6, 0.18)["grade"] == "Good"      # lift holds it back
    assert evaluation.quality_grade(0.72, 1.6, 0.18)["grade"] == "Fair"
    assert evaluation.quality_grade(0.62, 1.2, 0.18)["grade"] == "Poor"
    # with half the customers buying, lift cannot pass 2x: the minimums follow the base rate
    g = evaluation.quality_grade(0.9, 1.7, 0.5)
    assert g["grade"] == "Excellent" and g["bands"][0]["min_lift"] == 1.6


def test_segment_auc_needs_50_of_each_class():
    rng = np.random.default_rng(3)
    y = np.r_[np.ones(60), np.zeros(60), np.ones(10), np.zeros(200)].astype(int)
    seg = np.r_[np.zeros(120), np.ones(210)].astype(int)
    p = rng.random(len(y)) * 0.5 + 0.3 * y
    t = evaluation.segment_metrics(y, p, seg)
    assert t.loc[0, "roc_auc"] == pytest.approx(roc_auc_score(y[:120], p[:120]))
    assert t.loc[1, "roc_auc"] is None
    assert t.loc[1, "observed_rate"] == pytest.approx(10 / 210)
