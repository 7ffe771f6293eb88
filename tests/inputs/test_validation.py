from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.errors import DataError
from core.inputs.shopsphere_spec import shopsphere_spec
from core.inputs.spec import ColumnSpec, DatasetSpec, load_spec
from core.inputs.synthetic import shopsphere
from core.inputs.tables import read_table
from core.inputs.validation import load, validate
from core.models.features import learn_categories, model_frame
from tests.support import MARKETING, REPO

SPEC = shopsphere_spec()


@pytest.fixture()
def spec():
    return shopsphere_spec()


def _write(tmp_path, df, name="t.csv"):
    p = tmp_path / name
    df.to_csv(p, index=False)
    return p


def test_valid_table_is_typed(small_table, spec):
    clean, q = validate(small_table, spec, require_target=True)
    assert clean[spec.target].dtype == np.int8
    assert clean["sessions_30d"].dtype == float
    assert q["rows"] == len(small_table)
    assert q["missing_share"]["csat_score"] == pytest.approx(small_table["csat_score"].isna().mean())


def test_missing_target_column(tmp_path, small_table, spec):
    p = _write(tmp_path, small_table.drop(columns="purchased_next_30d"))
    with pytest.raises(DataError, match=r"missing required column 'purchased_next_30d'"):
        load(p, spec, require_target=True)


def test_missing_feature_column_named(tmp_path, small_table, spec):
    p = _write(tmp_path, small_table.drop(columns="orders_90d"))
    with pytest.raises(DataError, match=r"missing required column 'orders_90d'"):
        load(p, spec, require_target=False)


def test_text_in_numeric_column_names_column_row_value(tmp_path, small_table, spec):
    df = small_table.copy()
    df["orders_12m"] = df["orders_12m"].astype(object)
    df.loc[16, "orders_12m"] = "twelve"
    p = _write(tmp_path, df)
    with pytest.raises(DataError, match=r"column 'orders_12m': text 'twelve' at line 18"):
        load(p, spec, require_target=True)


@pytest.mark.parametrize("bad,msg", [(2, "not binary: value '2' at row 4"),
                                     ("maybe", r"not binary: value 'maybe' at row 4 \(values found: .*'maybe'")])
def test_target_not_binary(small_table, spec, bad, msg):
    df = small_table.copy()
    df["purchased_next_30d"] = df["purchased_next_30d"].astype(object)
    df.loc[3, "purchased_next_30d"] = bad
    with pytest.raises(DataError, match=msg):
        validate(df, spec, require_target=True)


@pytest.mark.parametrize("yes,no", [("yes", "no"), ("TRUE", "FALSE"), ("Y", "n"), (" True ", "false"), (True, False),
                                    ("1", "0")])
def test_targets_as_people_write_them(small_table, spec, yes, no):
    df = small_table.copy()
    y = df["purchased_next_30d"].to_numpy()
    df["purchased_next_30d"] = np.where(y == 1, yes, no).astype(object) if not isinstance(yes, bool) else y == 1
    clean, _ = validate(df, spec, require_target=True)
    assert clean["purchased_next_30d"].tolist() == y.tolist()


def test_target_single_class(small_table, spec):
    df = small_table.assign(purchased_next_30d=0)
    with pytest.raises(DataError, match="single class"):
        validate(df, spec, require_target=True)


def test_duplicate_ids(small_table, spec):
    df = small_table.copy()
    df.loc[9, "customer_id"] = df.loc[2, "customer_id"]
    with pytest.raises(DataError, match=r"duplicate id 'C\d+' at row 3 and row 10"):
        validate(df, spec, require_target=True)


def test_empty_file(tmp_path, spec):
    p = tmp_path / "empty.csv"
    p.write_text("")
    with pytest.raises(DataError, match="file is empty"):
        read_table(p, spec)


def test_header_only_file(tmp_path, spec):
    p = tmp_path / "header.csv"
    p.write_text("customer_id,orders_12m\n")
    with pytest.raises(DataError, match="no data rows"):
        read_table(p, spec)


def test_unreadable_file(tmp_path, spec):
    p = tmp_path / "broken.parquet"
    p.write_bytes(b"this is not parquet at all")
    with pytest.raises(DataError, match=r"broken.parquet: cannot read the file"):
        read_table(p, spec)


def test_missing_file(tmp_path, spec):
    with pytest.raises(DataError, match="file not found"):
        read_table(tmp_path / "nope.csv", spec)


def test_inf_becomes_missing_and_is_counted(small_table, spec):
    df = small_table.copy()
    df.loc[[0, 1], "pages_per_session"] = [np.inf, -np.inf]
    clean, q = validate(df, spec, require_target=True)
    assert np.isnan(clean.loc[[0, 1], "pages_per_session"]).all()
    assert q["inf_to_missing"] == {"pages_per_session": 2}


def test_out_of_range_rules(small_table, spec):
    df = small_table.copy()
    df.loc[0, "csat_score"] = 7          # rule: missing
    df.loc[1, "refund_rate"] = 1.4       # rule: clip
    clean, q = validate(df, spec, require_target=True)
    assert np.isnan(clean.loc[0, "csat_score"])
    assert clean.loc[1, "refund_rate"] == 1.0
    assert q["out_of_range"]["csat_score"] == {"count": 1, "rule": "missing"}
    assert q["out_of_range"]["refund_rate"] == {"count": 1, "rule": "clip"}


def test_text_columns_read_by_pandas_any_dtype(tmp_path, small_table, spec):
    # pandas 3 reads text as the 'str' dtype, not object: categoricals come from the spec.
    p = _write(tmp_path, small_table)
    clean, _ = load(p, spec, require_target=True)
    assert clean["region"].dropna().isin(["north", "south", "east", "west", "central"]).all()
    assert clean["region"].isna().mean() == pytest.approx(small_table["region"].isna().mean())


def test_marketing_spec_loads_and_dates_become_days():
    spec = load_spec(REPO / "configs" / "marketing_campaign.toml")
    assert spec.target == "Response" and spec.id_column == "ID"
    assert spec.column("Dt_Customer").kind == "date"
    if not MARKETING.exists():
        pytest.skip("../shared/data is absent")
    clean, q = load(MARKETING, spec, require_target=True)
    assert len(clean) == 2240
    assert clean["Dt_Customer"].min() == 1.0  # 2014-06-29 is one day before the reference date
    assert q["out_of_range"]["Year_Birth"]["count"] == 3  # 1893, 1899, 1900
    assert q["out_of_range"]["Income"]["count"] == 1      # 666666
    assert clean["Income"].isna().sum() == 25             # 24 empty + 1 set missing


def test_spec_errors(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text('name = "x"\nid = "id"\n[columns.a]\nkind = "weird"\n')
    with pytest.raises(DataError, match="column 'a': unknown kind 'weird'"):
        load_spec(p)
    p.write_text('name = "x"\n[columns.a]\nkind = "count"\n')
    with pytest.raises(DataError, match="required key 'id'"):
        load_spec(p)
    p.write_text("name = [")
    with pytest.raises(DataError, match="not valid TOML"):
        load_spec(p)
    with pytest.raises(DataError, match="listed twice"):
        DatasetSpec("x", "id", "y", (ColumnSpec("a", "count", "behavioral"), ColumnSpec("a", "count", "behavioral")))


def test_ids_keep_leading_zeros(tmp_path, small_table, spec):
    df = small_table.head(20).copy()
    df["customer_id"] = [f"{i:05d}" for i in range(20)]
    p = _write(tmp_path, df)
    clean, _ = load(p, spec, require_target=True)
    assert clean["customer_id"].tolist()[:3] == ["00000", "00001", "00002"]


def test_short_row_is_an_error_not_blanks(tmp_path, small_table, spec):
    p = _write(tmp_path, small_table.head(10))
    lines = p.read_text().splitlines()
    lines[5] = ",".join(lines[5].split(",")[:3])  # data row 5 truncated to 3 fields
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"line 6 has 3 fields, the header has 29") as exc:
        read_table(p, spec)
    assert str(exc.value).count(str(p)) == 1 and "cannot read" not in str(exc.value)


def test_semicolon_csv_is_read(tmp_path, small_table, spec):
    p = tmp_path / "semi.csv"
    small_table.head(50).to_csv(p, index=False, sep=";")
    clean, _ = load(p, spec, require_target=True)
    assert len(clean) == 50
    assert clean["orders_12m"].tolist() == small_table["orders_12m"].head(50).astype(float).tolist()


def test_unsupported_file_type(tmp_path, spec):
    p = tmp_path / "t.json"
    p.write_text("{}")
    with pytest.raises(DataError, match=r"unsupported file type '.json'"):
        read_table(p, spec)


def test_scoring_ignores_the_target_column(small_table, spec):
    df = small_table.astype({"purchased_next_30d": object})
    df.loc[0, "purchased_next_30d"] = "yes"
    clean, _ = validate(df, spec, require_target=False)
    assert spec.target not in clean


def test_wrong_spec_hint(small_table):
    spec = load_spec(REPO / "configs" / "marketing_campaign.toml")
    with pytest.raises(DataError, match=r"missing required column 'Response'.*right spec"):
        validate(small_table, spec, require_target=True)


@pytest.mark.parametrize("body,msg", [
    ('[columns.a]\nkind = "count"\nmin = "zero"\n', "min must be a number"),
    ('[columns.a]\nkind = "count"\nmin = 5\nmax = 1\n', "min 5 is above max 1"),
    ('reference_date = "not a date"\n[columns.a]\nkind = "count"\ngroup = "behavioral"\n', "not an ISO date"),
    ('columns = 5\n', "'columns' must be tables"),
    ('segmentation_groups = "behavioral"\n[columns.a]\nkind = "count"\ngroup = "behavioral"\n', "must be a list"),
    ('segmentation_groups = ["behaviour"]\n[columns.a]\nkind = "count"\ngroup = "behavioral"\n', "unknown segmentation group 'behaviour'"),
])
def test_spec_value_errors_name_the_file(tmp_path, body, msg):
    p = tmp_path / "s.toml"
    p.write_text('name = "x"\nid = "id"\n' + body)
    with pytest.raises(DataError, match=msg) as exc:
        load_spec(p)
    assert str(p) in str(exc.value)


def test_toml_date_reference_is_accepted(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text('name = "x"\nid = "id"\nreference_date = 2014-06-30\n[columns.a]\nkind = "count"\ngroup = "behavioral"\n')
    assert load_spec(p).reference_date == "2014-06-30"


@pytest.mark.parametrize("body,msg", [
    ("seed = -5\n", "seed must be a whole number"),
    ("n_jobs = 0\n", "n_jobs must be"),
    ("[propensity]\ntest_share = 0.99\n", "test_share"),
    ("[segmentation]\nmin_segments = 12\n", "min_segments"),
])
def test_settings_out_of_range(tmp_path, body, msg):
    from core.settings import load_settings

    p = tmp_path / "settings.toml"
    p.write_text(body)
    with pytest.raises(DataError, match=msg):
        load_settings(p)


def test_settings_file_missing_or_binary(tmp_path):
    from core.settings import load_settings

    with pytest.raises(DataError, match="not found"):
        load_settings(tmp_path / "nope.toml")
    b = tmp_path / "bin.toml"
    b.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DataError, match="not valid TOML"):
        load_settings(b)


def test_duplicate_feature_rows_are_counted_and_noted(small_table, spec):
    from core.inputs.validation import quality_notes

    df = small_table.head(1000).copy()
    feats = spec.feature_names
    df.loc[1:300, feats] = df.loc[[0] * 300, feats].to_numpy()
    _, q = validate(df, spec, require_target=True)
    assert q["duplicate_feature_rows"] == 300
    assert any("300 of 1,000 rows (30%) repeat another row's features" in n for n in quality_notes(q, {}, training=True))


def test_text_columns_read_by_pandas_3_are_categoricals_from_the_spec(tmp_path):
    df = shopsphere.generate(300, seed=2)
    p = tmp_path / "t.csv"
    df.to_csv(p, index=False)
    raw = pd.read_csv(p)
    assert str(raw["region"].dtype) != "object"  # pandas 3 reads text as 'str'
    clean, _ = load(p, SPEC, require_target=True)
    X, _ = model_frame(clean, SPEC, learn_categories(clean, SPEC))
    assert isinstance(X["region"].dtype, pd.CategoricalDtype)
    assert X["region"].isna().sum() == df["region"].isna().sum()


def test_nullable_and_odd_values_follow_the_spec_rules():
    df = shopsphere.generate(200, seed=8)
    df["orders_12m"] = df["orders_12m"].astype("Int64")
    df.loc[3, "orders_12m"] = pd.NA
    df["push_opt_in"] = df["push_opt_in"].astype(bool).astype("boolean")
    df.loc[4, "push_opt_in"] = pd.NA
    df.loc[5, "total_spend_12m"] = -25.0      # refund: clipped to 0
    df.loc[6, "discount_usage_rate"] = 1.7    # rate above 1: clipped to 1
    df.loc[7, "csat_score"] = 0               # outside 1..5: set missing
    df.loc[8, "csat_score"] = 7
    clean, q = validate(df, SPEC, require_target=True)
    assert np.isnan(clean.loc[3, "orders_12m"]) and clean.loc[2, "orders_12m"] == df.loc[2, "orders_12m"]
    assert np.isnan(clean.loc[4, "push_opt_in"]) and clean.loc[0, "push_opt_in"] in (0.0, 1.0)
    assert clean.loc[5, "total_spend_12m"] == 0.0
    assert clean.loc[6, "discount_usage_rate"] == 1.0
    assert np.isnan(clean.loc[[7, 8], "csat_score"]).all()
    assert q["out_of_range"]["total_spend_12m"] == {"count": 1, "rule": "clip"}
    assert q["out_of_range"]["discount_usage_rate"] == {"count": 1, "rule": "clip"}
    assert q["out_of_range"]["csat_score"]["count"] == 2
