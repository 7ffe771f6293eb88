"""A snapshot table (the same customers at several dates) trains out of time."""
import dataclasses

import pandas as pd
import pytest

from core.inputs.shopsphere_spec import shopsphere_spec
from core.inputs.synthetic import shopsphere
from core.pipeline import scoring, training
from tests.support import small_settings

SPEC = shopsphere_spec()


@pytest.mark.slow
def test_out_of_time_training_end_to_end(tmp_path, monkeypatch):
    """A snapshot table (the same customers at two dates) trains with the latest snapshot as
    the test rows, and the run scores a table without the snapshot column."""
    spec = dataclasses.replace(SPEC, snapshot_column="snapshot_date")
    monkeypatch.setattr(training, "resolve_spec", lambda path: spec)
    a, b = shopsphere.generate(1200, seed=31), shopsphere.generate(1200, seed=32)
    b["customer_id"] = a["customer_id"]
    a["snapshot_date"], b["snapshot_date"] = "2026-09-30", "2026-10-31"
    path = tmp_path / "snapshots.csv"
    pd.concat([a, b]).to_csv(path, index=False)
    run = training.train(path, None, small_settings(tmp_path / "art"))
    s = run.table("scored")
    assert (s.loc[s["split"] == "test", "customer_id"].str.endswith("@2026-10-31")).all()
    assert (s["split"] == "test").sum() == 1200 == run.metrics().propensity_model.rows["test"]
    out, _ = scoring.score(b.drop(columns=["purchased_next_30d", "snapshot_date"]), run)
    assert len(out) == 1200 and out["customer_id"].tolist() == b["customer_id"].tolist()
