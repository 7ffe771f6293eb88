"""Runs on disk: the store's own figures."""


def test_total_seconds_counts_side_by_side_steps_once():
    from core.runs.store import total_seconds

    assert total_seconds({"load": 1.0, "segmentation": 10.0, "propensity": 5.0, "save": 0.5}) == 16.5
    assert total_seconds({"load": 1.0, "segmentation": 10.0, "propensity": 5.0, "segmentation_and_propensity": 11.0,
                          "save": 0.5}) == 12.5
