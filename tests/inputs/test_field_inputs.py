"""Field inputs (issue 31): what real logs and tables that no one here had seen did to a new
user, one test per case: guest orders, the file's own line numbers, codes read as numbers,
log columns constant per customer."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from core.errors import DataError
from core.inputs import log, tables, validation
from core.inputs.log.events import note_lines
from core.inputs.shopsphere_spec import resolve_spec

LOG_SPEC = log.LogSpec(name="shop", customer_id="CustomerID", timestamp="InvoiceDate", quantity="Quantity",
                       unit_price="UnitPrice", order_id="InvoiceNo", returns="prefix", horizon_days=30)


def _orders(n: int = 400, seed: int = 3) -> pd.DataFrame:
    """An order log as an online retailer exports it (one line per product of an invoice)."""
    rng = np.random.default_rng(seed)
    day = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 200, n), unit="D")
    return pd.DataFrame({"InvoiceNo": [f"5{i:05d}" for i in range(n)],
                         "CustomerID": [f"{12000 + int(c)}" for c in rng.integers(0, 60, n)],
                         "InvoiceDate": day.strftime("%Y-%m-%d %H:%M"),
                         "Quantity": rng.integers(1, 6, n), "UnitPrice": rng.integers(1, 40, n) + 0.5})


def _guest(df: pd.DataFrame, rows) -> pd.DataFrame:
    df = df.copy()
    df.loc[list(rows), "CustomerID"] = np.nan
    return df


def test_guest_lines_of_a_log_are_left_out_and_said_with_their_share_of_sales_and_dates(tmp_path):
    raw = _orders()
    guests = list(range(0, 400, 4))  # a quarter of the lines: guest checkouts
    p = tmp_path / "orders.csv"
    _guest(raw, guests).to_csv(p, index=False)
    ev, notes = log.events(log.read_log(p, LOG_SPEC), LOG_SPEC, str(p))
    assert len(ev) == 300
    g = notes["lines_without_customer"]
    sales = raw["Quantity"] * raw["UnitPrice"]
    assert g["lines"] == 100 and g["share_of_lines"] == pytest.approx(0.25)
    assert g["share_of_sales"] == pytest.approx(sales.iloc[guests].sum() / sales.sum())
    days = pd.to_datetime(raw["InvoiceDate"].iloc[guests]).dt.date
    assert (g["first_day"], g["last_day"]) == (str(days.min()), str(days.max()))
    line = note_lines(notes)[0]
    assert line.startswith("100 lines (25.0%) have no customer id") and f"{g['share_of_sales']:.1%}" in line


def test_refusing_guest_lines_names_the_files_own_line_after_duplicates_are_dropped(tmp_path):
    raw = _orders(60)
    raw = pd.concat([raw.iloc[:10], raw.iloc[:10], raw.iloc[10:]], ignore_index=True)  # 10 re-exported lines
    raw.loc[35, "CustomerID"] = np.nan   # data row 35: line 37 of the file (the header is line 1)
    p = tmp_path / "orders.csv"
    raw.to_csv(p, index=False)
    spec = dataclasses.replace(LOG_SPEC, missing_customer="refuse")
    with pytest.raises(DataError, match=r"orders.csv: column 'CustomerID': an empty value at line 37 is not an id"):
        log.events(log.read_log(p, spec), spec, str(p))


def test_a_log_where_no_line_has_a_customer_is_refused_in_one_line():
    raw = _orders(20)
    raw["CustomerID"] = None
    with pytest.raises(DataError, match="column 'CustomerID' is empty on every line"):
        log.events(raw, LOG_SPEC, "orders.csv")


def test_missing_customer_takes_drop_or_refuse_only():
    with pytest.raises(DataError, match="missing_customer must be one of drop, refuse"):
        dataclasses.replace(LOG_SPEC, missing_customer="keep")


@pytest.mark.parametrize("form", ["csv", "xlsx", "parquet"])
def test_errors_name_the_files_own_row_in_every_format(tmp_path, form):
    raw = _orders(30)
    raw = pd.concat([raw.iloc[:5], raw], ignore_index=True)  # 5 duplicated lines, dropped before the check
    raw["Quantity"] = raw["Quantity"].astype(object)
    raw.loc[20, "Quantity"] = "two"
    p = tmp_path / f"orders.{form}"
    if form == "csv":
        raw.to_csv(p, index=False)
        where = "line 22"
    elif form == "xlsx":
        raw.to_excel(p, index=False, sheet_name="Orders")
        where = "row 22 of sheet 'Orders'"
    else:
        raw.astype({"Quantity": str}).to_parquet(p, index=False)
        where = "row index 20"
    with pytest.raises(DataError, match=f"column 'Quantity': 'two' at {where} is not a number"):
        log.events(log.read_log(p, LOG_SPEC), LOG_SPEC, str(p))


def test_line_numbers_count_blank_lines_and_quoted_line_breaks(tmp_path, small_table):
    spec = resolve_spec(None)
    df = small_table.head(8).copy()
    df["region"] = df["region"].astype(object)
    df.loc[1, "region"] = "web\nshop"     # a quoted line break: data row 1 spans lines 3 and 4
    df["orders_12m"] = df["orders_12m"].astype(object)
    df.loc[6, "orders_12m"] = "twelve"
    text = df.to_csv(index=False).splitlines(keepends=True)
    text.insert(6, "\n")                          # a blank line before data row 4
    p = tmp_path / "customers.csv"
    p.write_text("".join(text))
    # data row 6: line 8 plainly, 9 after the quoted break, 10 after the blank line
    with pytest.raises(DataError, match=r"column 'orders_12m': text 'twelve' at line 10"):
        validation.load(p, spec, require_target=True)


def test_a_tables_rows_without_an_id_are_left_out_and_said_or_refused(tmp_path, small_table):
    spec = resolve_spec(None)
    df = small_table.head(50).copy()
    df.loc[[3, 17, 40], "customer_id"] = None
    p = tmp_path / "customers.csv"
    df.to_csv(p, index=False)
    clean, quality = validation.load(p, spec, require_target=True)
    assert len(clean) == 47 and quality["rows_without_id"] == {"rows": 3, "first": "line 5", "column": "customer_id"}
    assert "3 rows have no id in column 'customer_id' (the first at line 5): left out" in \
        validation.quality_notes(quality, {}, training=True)[0]
    with pytest.raises(DataError, match=r"column 'customer_id': empty id at line 5 \(the spec's missing_id = 'drop'"):
        validation.load(p, dataclasses.replace(spec, missing_id="refuse"), require_target=True)


def test_place_of_a_row_in_a_frame_from_no_file_is_its_1_based_row():
    df = pd.DataFrame({"a": [1, 2, 3]})
    assert tables.place(df, 2) == "row 3"


def _shoppers(n: int = 600, seed: int = 5) -> pd.DataFrame:
    """A sessions table as the online-shoppers data set has it: small integer codes beside
    real counts and amounts."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"ProductRelated": rng.integers(0, 80, n), "PageValues": rng.gamma(1.0, 8.0, n).round(2),
                         "OperatingSystems": rng.integers(1, 9, n), "Browser": rng.integers(1, 14, n),
                         "Region": rng.integers(1, 10, n), "TrafficType": rng.integers(1, 21, n),
                         "Weekend": rng.random(n) < 0.2, "Revenue": rng.random(n) < 0.15})


def test_small_integer_codes_are_drafted_as_categories_with_a_check_line():
    from core.inputs import spec_draft

    draft = spec_draft.draft_spec(_shoppers(), target="Revenue", source="shoppers.csv")
    kinds = {c.name: c.kind for c in draft.spec.columns}
    assert {k: kinds[k] for k in ("OperatingSystems", "Browser", "Region", "TrafficType")} == dict.fromkeys(
        ("OperatingSystems", "Browser", "Region", "TrafficType"), "categorical")
    assert kinds["ProductRelated"] == "count" and kinds["PageValues"] != "categorical"
    toml = spec_draft.spec_toml(draft, "shoppers.csv")
    assert "# CHECK: whole numbers with 13 levels, named like a code: taken as categories" in toml
    form = spec_draft.choices(draft).set_index("column")   # the Admin page's draft form shows the choice
    assert form.loc["Browser", "kind"] == "categorical" and form.loc["Browser", "note"].startswith("whole numbers")


def test_zero_padded_numbers_are_codes_and_a_quantity_named_plainly_stays_a_number():
    from core.inputs import spec_draft

    df = _shoppers()
    df["Department"] = [f"{int(v):02d}" for v in np.random.default_rng(1).integers(1, 12, len(df))]
    df["Kidhome"] = np.random.default_rng(2).integers(0, 3, len(df))
    kinds = {c.name: c.kind for c in spec_draft.draft_spec(df, target="Revenue").spec.columns}
    assert kinds["Department"] == "categorical" and kinds["Kidhome"] == "count"


def _campaign(ids, seed: int = 4, contact: str = "treatment", holdout: str = "control"):
    """A campaign from another tool: its cohort (ids and group names as that tool writes them)
    and the outcomes of its window (contact buys at 12%, holdout at 8%)."""
    rng = np.random.default_rng(seed)
    group = np.where(rng.random(len(ids)) < 0.7, contact, holdout)
    bought = rng.random(len(ids)) < np.where(group == contact, 0.12, 0.08)
    cohort = pd.DataFrame({"customer_id": ids, "group": group})
    outcomes = pd.DataFrame({"customer_id": ids, "purchased": bought.astype(int),
                             "revenue": np.where(bought, 50.0, 0.0)})
    return cohort, outcomes


def test_a_readout_without_any_trained_run_gives_the_overall_uplift_and_says_what_it_left_out(tmp_path):
    from core.actions import campaigns
    from tests.support import small_settings

    settings = small_settings(tmp_path)                  # a runs folder with no run at all
    cohort, outcomes = _campaign([f"X{i}" for i in range(4000)])
    r = campaigns.readout(settings, cohort=cohort, cohort_source="campaign.csv", outcomes=outcomes,
                          outcomes_source="outcomes.csv", save=False).result
    want = outcomes.merge(cohort).groupby("group")["purchased"].mean()
    assert r["overall"]["uplift"]["absolute"] == pytest.approx(want["treatment"] - want["control"])
    assert r["by_segment"] == [] and r["by_band"] == [] and r["run_id"] is None
    notes = " | ".join(r["notes"])
    assert "groups read as: 'treatment' = contact; 'control' = holdout" in notes
    assert "names no run" in notes and "segment and band rows and calibration check are left out" in notes


@pytest.mark.parametrize("contact, holdout", [("test", "control"), ("1", "0"), ("Yes", "No"), ("Treatment", "Control")])
def test_group_names_that_campaign_tools_write_are_read(contact, holdout):
    from core.activation.campaign_tables import cohort_members

    cohort, _ = _campaign([f"X{i}" for i in range(50)], contact=contact, holdout=holdout)
    members = cohort_members(cohort, "campaign.csv")
    assert set(members["group"]) == {"contact", "holdout"}
    assert (members["group"] == "contact").sum() == (cohort["group"] == contact).sum()
    assert members.attrs["notes"] == [f"groups read as: '{contact}' = contact; '{holdout}' = holdout"]


def test_a_group_name_that_is_neither_is_refused_naming_its_line(tmp_path):
    from core.actions.campaigns import read_cohort

    cohort, _ = _campaign([f"X{i}" for i in range(20)])
    cohort.loc[6, "group"] = "maybe"
    cohort.to_csv(tmp_path / "campaign.csv", index=False)
    with pytest.raises(DataError, match=r"campaign.csv: line 8: group 'maybe' is neither a contact name"):
        read_cohort(tmp_path / "campaign.csv")


@pytest.mark.slow
def test_a_cohort_of_another_run_is_refused_and_a_cohort_file_joins_its_own_run(trained, tmp_path):
    import shutil

    from core.actions import campaigns
    from core.runs import store
    from tests.support import small_settings

    src, run = trained
    settings = small_settings(tmp_path)
    shutil.copytree(src, settings.artifacts_dir, dirs_exist_ok=True)
    scored = store.load_run(settings.artifacts_dir).table("scored")
    # another data set's campaign whose ids collide with 100 of this run's ids
    ids = list(scored["customer_id"].astype(str)[:100]) + [f"Z{i}" for i in range(900)]
    cohort, outcomes = _campaign(ids)
    with pytest.raises(DataError, match=rf"campaign.csv: 900 of 1,000 cohort customers \(90%\) are not in run "
                                        rf"{run.run_id}: the cohort is of another run or data set"):
        campaigns.readout(settings, cohort=cohort, cohort_source="campaign.csv", run_id=run.run_id,
                          outcomes=outcomes, save=False)
    # the same campaign without a run named: the overall uplift only, never this run's scores
    r = campaigns.readout(settings, cohort=cohort, cohort_source="campaign.csv", outcomes=outcomes, save=False).result
    assert r["run_id"] is None and r["calibration"] == {} and r["by_segment"] == []
    # a cohort the product exported names its run, and its readout joins that run
    built = campaigns.build_cohort(settings, min_propensity=0.0, holdout_for=0.5)
    assert set(built.export["run_id"]) == {run.run_id}
    _, outcomes = _campaign(list(built.export["customer_id"]))
    r = campaigns.readout(settings, cohort=built.export, cohort_source="cohort.csv", outcomes=outcomes,
                          save=False).result
    assert r["run_id"] == run.run_id and r["by_segment"]
    with pytest.raises(DataError, match=r"cohort.csv: the cohort was built from run .* not from run other-run"):
        campaigns.readout(settings, cohort=built.export, cohort_source="cohort.csv", outcomes=outcomes,
                          run_id="other-run", save=False)


def _wholesale_log(n: int = 3000, seed: int = 8) -> pd.DataFrame:
    """A wholesaler's order lines: each customer in one country (constant per customer), a
    few customers ordering from two of their shops (web and phone vary within customers)."""
    rng = np.random.default_rng(seed)
    cust = rng.integers(0, 150, n)
    country = np.array(["United Kingdom", "France", "Germany", "EIRE"])[cust % 4]
    day = pd.Timestamp("2023-01-01") + pd.to_timedelta(np.sort(rng.integers(0, 360, n)), unit="D")
    return pd.DataFrame({"InvoiceNo": [f"I{i}" for i in range(n)], "CustomerID": [f"C{c}" for c in cust],
                         "InvoiceDate": day.strftime("%Y-%m-%d"), "Quantity": rng.integers(1, 12, n),
                         "UnitPrice": rng.integers(1, 20, n).astype(float), "Country": country,
                         "Via": rng.choice(["web", "phone"], n)})


def test_a_channel_constant_per_customer_becomes_a_customer_attribute_not_channel_shares():
    from core.inputs.log.attributes import channel_as_attribute, customer_attributes
    from core.pipeline import log_table

    spec = dataclasses.replace(LOG_SPEC, channel="Country", returns="none")
    ev, _ = log.events(_wholesale_log(), spec, "orders.csv")
    ev, spec2, moved = channel_as_attribute(ev, spec)
    assert moved == {"column": "Country", "share": 1.0} and spec2.channel is None
    assert spec2.customer_columns == ("Country",) and ev["channel"].isna().all()
    assert "column 'Country' holds one value for 100.0% of the customers" in note_lines(
        {"channel_is_customer_attribute": moved})[0]
    cuts = log.cutoff_days(spec2, int(ev["day"].min()), int(ev["day"].max()))
    table, ds, _ = log_table.snapshot_table(ev, spec2, cuts, customer_attributes(ev, spec2))
    assert not [c for c in table.columns if c.startswith("channel_share")]
    kinds = {c.name: c.kind for c in ds.columns}
    assert kinds["Country"] == "categorical"
    assert (table["Country"] == np.array(["United Kingdom", "France", "Germany", "EIRE"])[
        table["customer_id"].str[1:].astype(int) % 4]).all()
    # a column that varies within customers stays a channel
    varying = dataclasses.replace(LOG_SPEC, channel="Via", returns="none")
    ev, _ = log.events(_wholesale_log(), varying, "orders.csv")
    assert channel_as_attribute(ev, varying)[2] is None


def test_customer_columns_named_in_the_spec_are_attributes_from_the_first_line(tmp_path):
    from core.inputs.log.attributes import customer_attributes

    raw = _wholesale_log()
    raw.loc[raw["CustomerID"] == "C3", "Country"] = "Spain"          # C3's first line says where they are
    first = raw[raw["CustomerID"] == "C3"].index[0]
    raw.loc[raw[raw["CustomerID"] == "C3"].index[1:], "Country"] = "France"
    p = tmp_path / "spec.toml"
    p.write_text('kind = "log"\nname = "w"\ncustomer_id = "CustomerID"\ntimestamp = "InvoiceDate"\n'
                 'quantity = "Quantity"\nunit_price = "UnitPrice"\ncustomer_columns = ["Country"]\n')
    spec = log.load_log_spec(p)
    ev, _ = log.events(raw, spec, "orders.csv")
    attrs = customer_attributes(ev, spec)
    assert attrs.kinds == {"Country": "categorical"}
    assert attrs.table.set_index("customer_id").loc["C3", "Country"] == raw.loc[first, "Country"] == "Spain"
    with pytest.raises(DataError, match="'Country' is both a customer column and another role"):
        dataclasses.replace(spec, channel="Country")


def test_a_cluster_below_the_minimum_size_in_customers_is_merged_into_its_nearest_segment(small_table):
    """On a log a cluster of a handful of customers (counted at the latest cutoff, not in
    snapshot rows) was shown as a segment with no rules; now it joins its nearest segment."""
    import copy

    from core.inputs.shopsphere_spec import shopsphere_spec
    from core.models.features import learn_categories
    from core.models.segmentation import Segmenter
    from core.models.segmentation.merging import merge_note, merge_small_segments, nearest_segment
    from tests.support import SEG

    spec = shopsphere_spec()
    clean, _ = validation.validate(small_table, spec, require_target=True)
    seg = Segmenter(settings=SEG, random_state=1).fit(clean, spec, learn_categories(clean, spec))
    before = seg.assign(clean)
    k = seg.n_segments_
    # count only the first third of the rows as customers (as the latest snapshot of a log)
    counted = np.arange(len(clean)) < len(clean) // 3
    sizes = np.bincount(before["segment_id"].to_numpy()[counted], minlength=k)
    share = float(np.sort(sizes)[1] / counted.sum()) + 1e-9   # the two smallest are below it
    merged_seg = copy.deepcopy(seg)
    a = merged_seg.assigner_
    first_target = nearest_segment(a.ref_Z_, a.ref_labels_, int(np.argmin(sizes)))
    after, merged = merge_small_segments(merged_seg, clean, before, counted, share)
    assert len(merged) >= 2 and merged[0]["into"] == first_target and merged[0]["customers"] == sizes.min()
    ids = after["segment_id"].to_numpy()
    assert merged_seg.n_segments_ == k - len(merged) and set(np.unique(ids)) == set(range(k - len(merged)))
    assert np.bincount(ids[counted]).min() >= np.ceil(share * counted.sum())
    # the customers of untouched segments mostly stay together
    assert merge_note(merged, True)[0].startswith(f"a cluster of {sizes.min():,} customers at the latest cutoff")
    same, _ = merge_small_segments(copy.deepcopy(seg), clean, before, None, 0.0)
    assert same.equals(before)


def test_a_segment_no_leaf_of_the_shared_tree_predicts_still_gets_rules(small_table):
    from core.inputs.shopsphere_spec import shopsphere_spec
    from core.models.segmentation import profiling

    spec = shopsphere_spec()
    clean, _ = validation.validate(small_table, spec, require_target=True)
    cols = ["sessions_30d", "orders_12m", "days_since_last_order"]
    ids = np.zeros(len(clean), dtype=int)
    ids[clean["orders_12m"].to_numpy() > np.nanquantile(clean["orders_12m"], 0.5)] = 1
    tiny = (clean["sessions_30d"].to_numpy() > np.nanquantile(clean["sessions_30d"], 0.997))
    ids[tiny] = 2                                               # 0.3% of the rows: below the tree's leaf size
    rules = profiling.surrogate_rules(clean, ids, spec, cols, random_state=0)
    r = rules["segments"][2]
    assert r["rules"] and r["fidelity"] > 0.5
    assert all("sessions" in rule["text"].lower() for rule in r["rules"])


def test_bgnbd_on_a_log_where_everyone_bought_once_warns_nothing_and_says_its_figures_are_flat():
    import warnings

    from core.models.btyd import BGNBD, fit_at_cutoffs

    rng = np.random.default_rng(0)
    tenure = rng.integers(30, 300, 500).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("error")               # a numpy RuntimeWarning fails the test
        cols, fits = fit_at_cutoffs(np.ones(500), tenure, tenure, rng.gamma(2, 20, 500), np.full(500, 19000), 30)
    assert np.isfinite(cols.to_numpy()).all()
    assert fits[19000]["note"].startswith("no customer bought twice")
    assert "no customer had bought twice" in note_lines({"bgnbd_flat_cutoffs": ["1997-10-01"]})[0]
    # a = 1 (where eq. 10 of Fader, Hardie & Lee 2005 is 0/0) gives its limit, between its neighbours
    h = (np.array([2.0]), np.array([30.0]), np.array([39.0]), 39)
    at_one = BGNBD(0.24, 4.41, 1.0, 2.43).expected_purchases(*h)[0]
    below, above = (BGNBD(0.24, 4.41, a, 2.43).expected_purchases(*h)[0] for a in (0.999, 1.001))
    assert min(below, above) <= at_one <= max(below, above)


def test_library_warnings_go_to_the_runs_log_not_the_terminal(tmp_path, capsys):
    import logging
    import warnings

    from core.cli.main import log_warnings
    from core.models.segmentation import reducers

    log_warnings(tmp_path / "artifacts")
    try:
        warnings.warn("Spectral initialisation failed! The eigenvector solver failed.", UserWarning)
        assert "Spectral" not in capsys.readouterr().err
        for h in logging.getLogger("py.warnings").handlers:
            h.flush()
        assert "Spectral initialisation failed" in (tmp_path / "artifacts" / "logs" / "warnings.log").read_text()
    finally:
        logging.captureWarnings(False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn("Spectral initialisation failed!", UserWarning)
        warnings.warn("precomputed_knn: no search index", UserWarning)
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger(reducers.__name__)
    logger.addHandler(handler), logger.setLevel(logging.INFO)
    try:
        reducers._log_caught(caught, 500)
    finally:
        logger.removeHandler(handler)
    assert [r.getMessage() for r in records] == ["UMAP on 500 rows: Spectral initialisation failed!"]


def test_the_real_cdnow_log_with_a_quarter_of_its_lines_anonymous_reads_without_hand_editing(tmp_path):
    """CDNOW (../shared/data) with 25% of its lines' customer ids blanked, as a guest-checkout
    export would have them: read with its log spec (as CSV), the guest lines are left out and
    said; the rest is the log without them."""
    from tests.support import CDNOW, REPO

    if not CDNOW.exists():
        pytest.skip(f"{CDNOW} is not here (the shared data sets sit beside the project)")
    raw = pd.read_csv(CDNOW, sep=r"\s+", dtype={"customer_id": str})
    blank = np.random.default_rng(31).random(len(raw)) < 0.25
    raw.loc[blank, "customer_id"] = None
    p = tmp_path / "cdnow_guests.csv"
    raw.to_csv(p, index=False)
    spec = dataclasses.replace(log.load_log_spec(REPO / "configs" / "cdnow.toml"), delimiter=None)
    ev, notes = log.events(log.read_log(p, spec), spec, str(p))
    g = notes["lines_without_customer"]
    assert g["lines"] == int(blank.sum()) and len(ev) == len(raw) - g["lines"]
    assert g["share_of_sales"] == pytest.approx(raw.loc[blank, "dollar_value"].clip(lower=0).sum()
                                                / raw["dollar_value"].clip(lower=0).sum())
    assert (g["first_day"], g["last_day"]) == ("1997-01-01", "1998-06-30")
    assert f"{g['lines']:,} lines (24.7%) have no customer id" in " | ".join(note_lines(notes))
    # two guest lines alike are not counted as a customer's repeated line
    identified = raw[~blank]
    assert notes.get("identical_lines_kept", 0) == int(identified.duplicated().sum())


def test_ids_with_leading_zeros_stay_text_in_a_log_with_guest_lines_and_in_campaign_files(tmp_path):
    """A CSV log whose ids are written 00001 with blanks among them was read as numbers
    (1.0@1997-10-01 in the run, '1.0' in the activation database); cohort and outcome files
    lost their zeros likewise (customer '21' in the message, no match against the run)."""
    from core.actions.campaigns import read_cohort, read_outcomes

    raw = pd.DataFrame({"customer_id": ["00001", None, "00021", "00021"], "date": ["19970101", "19970102", "19970103",
                                                                                  "19970104"],
                        "number_of_cds": [1, 2, 1, 1], "dollar_value": [10.0, 20.0, 5.0, 7.0]})
    p = tmp_path / "log.csv"
    raw.to_csv(p, index=False)
    spec = log.LogSpec(name="t", customer_id="customer_id", timestamp="date", timestamp_format="%Y%m%d",
                       amount="dollar_value", quantity="number_of_cds")
    ev, notes = log.events(log.read_log(p, spec), spec, str(p))
    assert sorted(ev["customer_id"].astype(str).unique()) == ["00001", "00021"] and notes["lines_without_customer"]["lines"] == 1
    pd.DataFrame({"Customer ID": ["00021", "00007", "00021"], "group": ["test", "control", "test"]}).rename(
        columns={"Customer ID": "customer_id"}).to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(DataError, match=r"c.csv: line 4: customer '00021' is in the cohort twice"):
        read_cohort(tmp_path / "c.csv")
    pd.DataFrame({"Customer ID": ["00021", "00007"], "purchased": [1, 0]}).to_csv(tmp_path / "o.csv", index=False)
    assert read_outcomes(tmp_path / "o.csv")["customer_id"].tolist() == ["00021", "00007"]


def test_a_drafted_spec_finds_an_id_column_with_blanks_and_reading_leaves_those_rows_out(tmp_path):
    from core.inputs import spec_draft

    df = _shoppers(300)
    df.insert(0, "ID", np.arange(1000, 1300))
    df["ID"] = df["ID"].astype(float)
    df.loc[[4, 9], "ID"] = np.nan                      # a CSV id column with blanks reads as floats
    draft = spec_draft.draft_spec(df, target="Revenue", source="t.csv")
    assert draft.spec.id_column == "ID" and not draft.spec.id_from_row
    p = tmp_path / "t.csv"
    df.to_csv(p, index=False)
    clean, quality = validation.load(p, draft.spec, require_target=True)
    assert len(clean) == 298 and quality["rows_without_id"]["first"] == "line 6"
    dup = df.assign(ID=df["ID"].fillna(1000.0))
    with pytest.raises(DataError, match=r"column 'ID' \(--id\) is not a unique id: '1000.0' repeats at row 5"):
        spec_draft.find_id(dup, "ID", source="t.csv")
