"""``python -m core value`` (issue 32): each customer's expected spend, orders and churn risk
from a log, written to a file; bad input in one line, nothing written."""
import pandas as pd
import pytest

from core.cli import main
from core.inputs.synthetic import shopsphere_log
from tests.support import REPO


@pytest.fixture(scope="module")
def small_log(tmp_path_factory):
    d = tmp_path_factory.mktemp("value")
    shopsphere_log.generate_log(1500, seed=4).to_parquet(d / "orders.parquet", index=False)
    spec = (REPO / "configs" / "shopsphere_log.toml").read_text(encoding="utf-8")
    (d / "log.toml").write_text("\n".join(line for line in spec.splitlines()
                                          if not line.startswith(("attributes", "[attribute_kinds]", "signup_date",
                                                                  "age_band", "region"))), encoding="utf-8")
    return d


def test_value_writes_each_customers_figures_named_with_their_horizons(small_log, tmp_path, capsys):
    out = tmp_path / "value.csv"
    code = main(["--artifacts", str(tmp_path / "art"), "value", "--log", str(small_log / "orders.parquet"),
                      "--spec", str(small_log / "log.toml"), "--cutoff", "2025-07-01", "--horizon", "120",
                      "--churn", "60", "--out", str(out)])
    said = capsys.readouterr()
    assert code == 0, said.err
    got = pd.read_csv(out, dtype={"customer_id": str})
    assert {"expected_spend_120d", "expected_orders_120d", "p_buy_60d", "churn_risk_60d", "pnbd_spend_120d",
            "bgnbd_churn_risk_60d", "naive_spend_120d"} <= set(got.columns)
    assert (got["as_of"] == "2025-07-01").all() and got["customer_id"].is_unique
    assert got["churn_risk_60d"].between(0, 1).all() and (got["expected_spend_120d"] >= 0).all()
    likely = got["p_buy_60d"] >= 0.5                        # a date for the customers likely to buy again only
    assert got.loc[likely, "next_order_date"].notna().all() and got.loc[~likely, "next_order_date"].isna().all()
    dated = got[likely]
    assert ((pd.to_datetime(dated["next_order_date"]) - pd.Timestamp("2025-07-01")).dt.days
            == dated["next_order_in_days"]).all()
    assert f"value of {len(got):,} customers as of 2025-07-01" in said.out
    assert "lines on or after 2025-07-01 were not read" in said.err


@pytest.mark.parametrize("extra, message", [
    (["--horizon", "0"], "error: the horizon is 0 days: it must be at least 1 day"),
    (["--cutoff", "2024-03-01"], "error: the log holds"),
    (["--cutoff", "soon"], "error: --cutoff 'soon' is not a date"),
    (["--cutoff", "2027-01-01"], "error: --cutoff 2027-01-01 lies after the log's last line (2025-12-31)"),
    (["--out", "value.txt"], "error: "),
])
def test_bad_input_is_one_line_and_writes_nothing(small_log, tmp_path, capsys, monkeypatch, extra, message):
    monkeypatch.chdir(tmp_path)
    code = main(["--artifacts", str(tmp_path / "art"), "value", "--log", str(small_log / "orders.parquet"),
                      "--spec", str(small_log / "log.toml"), *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith(message), err
    assert not list(tmp_path.glob("value*"))


def test_a_parquet_output_has_nulls_not_blank_text_and_float64_figures(small_log, tmp_path, capsys):
    """The found-by-trial details: no date is a null in Parquet (not ''), every figure float64,
    the date rule applied to p_buy as written (4 decimals), and customers left out are said."""
    import numpy as np

    log_file = tmp_path / "orders.parquet"
    raw = pd.read_parquet(small_log / "orders.parquet")
    zero = raw.iloc[[0]].assign(customer_id="Z0000001", unit_price=0.0)       # a customer with a zero-value line only
    pd.concat([raw, zero], ignore_index=True).to_parquet(log_file, index=False)
    out = tmp_path / "value.parquet"
    assert main(["--artifacts", str(tmp_path / "art"), "value", "--log", str(log_file), "--spec",
                 str(small_log / "log.toml"), "--cutoff", "2025-07-01", "--horizon", "90", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    got = pd.read_parquet(out)
    figures = [c for c in got.columns if c not in ("customer_id", "as_of", "next_order_date")]
    assert all(got[c].dtype == np.float64 for c in figures)
    assert not (got["next_order_date"] == "").any() and got["next_order_date"].isna().any()
    assert (got["next_order_date"].notna() == (got["p_buy_90d"] >= 0.5)).all()
    assert "Z0000001" not in set(got["customer_id"]) and "made no purchase there" in err
