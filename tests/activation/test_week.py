"""This week's actions, who to leave alone, and audience sizes."""
import numpy as np
import pandas as pd
import pytest

from core.activation import week


def _banded(revenue=True):
    rows = [  # segment, name, band, customers, expected buyers, revenue, action
        (0, "Big spenders", "high", 1000, 500.0, 90_000.0, "VIP early access"),
        (0, "Big spenders", "low", 4000, 100.0, 30_000.0, "Win-back"),
        (1, "Deal seekers", "medium", 9000, 1200.0, 60_000.0, "Targeted discount"),
        (2, "Quiet", "low", 20000, 150.0, 5_000.0, "Suppress from paid channels"),
        (3, "Lapsing", "low", 3000, 60.0, 2_000.0, "Suppress from paid channels"),
    ]
    df = pd.DataFrame(rows, columns=["segment_id", "segment_name", "band", "customers", "expected_buyers",
                                     "expected_revenue", "action"])
    return df if revenue else df.drop(columns="expected_revenue")


def test_actions_are_ranked_by_expected_revenue_else_by_expected_buyers():
    top = week.week_actions(_banded(), top=2)
    assert top["action"].tolist() == ["VIP early access", "Targeted discount"]
    assert top["deciles"].tolist() == [[1, 2, 3], [4, 5, 6, 7]] and set(top["ranked_by"]) == {"expected revenue"}
    by_buyers = week.week_actions(_banded(revenue=False))
    assert by_buyers["action"].tolist() == ["Targeted discount", "VIP early access", "Win-back"]
    assert set(by_buyers["ranked_by"]) == {"expected buyers"}


def test_who_to_leave_alone():
    alone = week.leave_alone(_banded())
    assert alone == {"customers": 23000, "expected_buyers": 210.0, "share": pytest.approx(23000 / 37000),
                     "segments": ["Quiet", "Lapsing"]}


def test_audience_sizes_reach_the_share_of_expected_buyers():
    p = np.array([0.9, 0.8, 0.1, 0.1, 0.05, 0.05])                  # 2.0 expected buyers
    sizes = week.audience_sizes(p, (0.5, 0.9, 1.0))
    assert [s["contacts"] for s in sizes] == [2, 3, 6]              # 1.7 >= 1.0, 1.8 >= 1.8, all for 2.0
    assert sizes[0]["expected_buyers"] == pytest.approx(1.7) and sizes[0]["min_propensity"] == pytest.approx(0.8)
    with pytest.raises(ValueError, match="target share 0"):
        week.audience_sizes(p, (0,))
