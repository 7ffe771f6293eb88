"""A campaign's tables as the readout takes them: the cohort's members (contact and holdout)
and the outcomes of the campaign window, checked, with the run's scores joined."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from core.activation.cohorts import latest_snapshot
from core.activation.readout import GROUPS
from core.errors import DataError
from core.inputs.log.events import EPOCH
from core.inputs.tables import place
from core.inputs.validation import binary_numbers, to_number

#: The largest revenue of one customer in a campaign window that the readout takes (money):
#: beyond it, or infinite, a value is refused as a typing or export error.
MAX_REVENUE = 1e12


PURCHASE_NAMES = ("purchased", "purchase", "converted", "conversion", "bought", "buyer", "purchased_next_30d",
                  "responded", "response", "outcome")


REVENUE_NAMES = ("revenue", "sales", "spend", "amount", "order_value", "value", "gmv")


ID_NAMES = ("customer_id", "customer", "id", "customerid", "client_id", "user_id")


def column_key(name) -> str:
    """A column name as the finders compare it: trimmed, lower case, runs of spaces, dots and
    dashes as one underscore ("Customer ID" -> "customer_id")."""
    return re.sub(r"[\s.\-]+", "_", str(name).strip().lower())


def _find(columns, names, given: str | None, what: str, source: str, required: bool = True) -> str | None:
    cols = {}
    for c in columns:
        cols.setdefault(column_key(c), c)
    if given is not None:
        if given not in columns:
            raise DataError(f"{source}: no column '{given}' for the {what} (columns: {', '.join(map(str, columns))[:200]})")
        return given
    for n in names:
        if n in cols:
            return cols[n]
    if required:
        raise DataError(f"{source}: no {what} column found (looked for {', '.join(names[:5])}...): name it")
    return None


#: Group names as campaign tools write them, and the readout's group each means (any case,
#: spaces, dashes and underscores ignored).
GROUP_NAMES = {**dict.fromkeys(("contact", "contacted", "treatment", "treated", "test", "target", "exposed",
                                "variant", "mailed", "sent", "1", "1.0", "yes", "y", "true", "t"), "contact"),
               **dict.fromkeys(("holdout", "heldout", "control", "controlgroup", "holdoutgroup", "0", "0.0", "no",
                                "n", "false", "f"), "holdout")}


def cohort_members(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """The checked members table of a cohort: a cohort export as read (CSV, xlsx or Parquet
    with ``customer_id`` and ``group``; the Cohort builder's columns ``segment_id``,
    ``persona``, ``propensity``, ``propensity_decile`` and ``run_id`` are kept when
    present), ids as text. The group may be written as campaign tools write it
    (:data:`GROUP_NAMES`: treatment/control, test/control, 1/0, yes/no...); how the names
    were read is in ``out.attrs["notes"]``.

    Raises DataError naming ``source``, a missing column, a group name that is neither a
    contact nor a holdout name (naming its row), a cohort whose names give one group only,
    or a repeated id."""
    for c in ("customer_id", "group"):
        if c not in df.columns:
            raise DataError(f"{source}: no column '{c}' (a cohort export has customer_id and group)")
    out = df[[c for c in ("customer_id", "group", "segment_id", "persona", "propensity", "propensity_decile",
                          "run_id") if c in df.columns]].copy()
    out["customer_id"] = out["customer_id"].astype(str).str.strip().str.lstrip("'")
    given = out["group"].astype("string").str.strip()
    keys = given.str.lower().str.replace(r"[\s_\-]+", "", regex=True)
    out["group"] = keys.map(GROUP_NAMES).astype(object)
    bad = out["group"].isna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raw = df["group"].iloc[i]
        raise DataError(f"{source}: {place(df, i)}: " + (
            "the group is empty" if pd.isna(raw) or str(raw).strip() == "" else
            f"group '{raw}' is neither a contact name (contact, treatment, test, 1, yes) nor a holdout name "
            "(holdout, control, 0, no)"))
    dup = out["customer_id"].duplicated().to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise DataError(f"{source}: {place(df, i)}: customer '{out['customer_id'].iloc[i]}' is in the cohort twice")
    read_as = {g: sorted(set(given[out["group"] == g])) for g in GROUPS}
    notes = []
    if any(names != [g] for g, names in read_as.items() if names):
        notes.append("groups read as: " + "; ".join(f"{', '.join(repr(n) for n in names)} = {g}"
                                                    for g, names in read_as.items() if names))
    out = out.reset_index(drop=True)
    out.attrs["notes"] = notes
    return out


def with_scores(members: pd.DataFrame, scored: pd.DataFrame) -> pd.DataFrame:
    """``members`` with each customer's ``segment_id``, ``persona``, ``propensity`` and
    ``propensity_decile`` from the cohort's run (``scored``, the run's scored table; a run
    of snapshots as of its latest cutoff) where the cohort lacks them (a cohort saved in the
    database keeps only its ids and groups)."""
    want = [c for c in ("segment_id", "persona", "propensity", "propensity_decile") if c not in members.columns]
    if not want:
        return members
    scored, _, _ = latest_snapshot(scored)
    table = scored.rename(columns={"segment_name": "persona"})
    cols = ["customer_id"] + [c for c in want if c in table.columns]
    return members.merge(table[cols].astype({"customer_id": str}), on="customer_id", how="left")


def outcome_table(df: pd.DataFrame, source: str, id_column: str | None = None, purchased: str | None = None,
                  revenue: str | None = None) -> pd.DataFrame:
    """The outcomes of the campaign window from a table as read (``source`` names it):
    ``customer_id`` (text), ``purchased`` (0/1) and ``revenue`` (money, NaN when the table
    has none) per customer. Columns are found by name (:data:`ID_NAMES`,
    :data:`PURCHASE_NAMES`, :data:`REVENUE_NAMES`) unless given. Flags may be 0/1,
    true/false, yes/no; revenue may be written ``$1,234.50``; a revenue without a purchase
    flag counts as a purchase when above 0. What was assumed in reading it (buyers found
    from revenue, revenue left out) is listed in ``out.attrs["notes"]``, which
    :func:`core.activation.readout.campaign_readout` reports, and
    ``out.attrs["revenue_dropped"]`` says whether a revenue column was left out for buyers
    without revenue.

    Raises DataError naming ``source`` and the column, and the first row whose flag or
    revenue is not a value of its kind (text in a revenue column, say), or a repeated id."""

    idc = _find(df.columns, ID_NAMES, id_column, "customer id", source)
    rev = _find(df.columns, REVENUE_NAMES, revenue, "revenue", source, required=False)
    flag = _find(df.columns, PURCHASE_NAMES, purchased, "purchase flag", source, required=rev is None)
    notes, dropped = [], False
    out = pd.DataFrame({"customer_id": df[idc].astype(str).str.strip().str.lstrip("'").to_numpy()})
    if rev is not None:
        money, _ = to_number(df[rev])
        with np.errstate(invalid="ignore"):
            bad = ((money.isna() & df[rev].notna() & (df[rev].astype(str).str.strip() != ""))
                   | (money.notna() & ~(money.abs() < MAX_REVENUE))).to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(f"{source}: column '{rev}', {place(df, i)}: '{df[rev].iloc[i]}' is not an amount of money"
                            + (" (at most 10^12 a customer)" if pd.notna(money.iloc[i]) else ""))
        out["revenue"] = money.to_numpy(float)
    else:
        out["revenue"] = np.nan
    if flag is not None:
        v = binary_numbers(df[flag])
        ok = v.isin([0, 1]).to_numpy()
        if not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            raise DataError(f"{source}: column '{flag}', {place(df, i)}: " + (
                "the purchase flag is empty" if pd.isna(df[flag].iloc[i]) or str(df[flag].iloc[i]).strip() == ""
                else f"'{df[flag].iloc[i]}' is not a purchase flag (1/0, true/false, yes/no)"))
        out["purchased"] = v.astype(int).to_numpy()
    else:
        out["purchased"] = (out["revenue"].fillna(0.0) > 0).astype(int)
        notes.append(f"no purchase flag column: a customer with revenue above 0 in '{rev}' counted as a buyer")
    if rev is not None:
        blank = out["revenue"].isna() & (out["purchased"] == 1)
        if blank.any():  # unknown, not zero: a 0 would read as buyers who spent nothing
            i = int(np.flatnonzero(blank.to_numpy())[0])
            notes.append(f"column '{rev}': {int(blank.sum()):,} buyers have no revenue (the first at {place(df, i)}): "
                         "revenue left out, conversion only")
            out["revenue"] = np.nan
            dropped = True
        else:
            spent = (out["revenue"].fillna(0.0) != 0) & (out["purchased"] == 0)
            if spent.any():
                notes.append(f"{int(spent.sum()):,} customers not flagged as buyers have revenue in '{rev}' (returns, "
                             "orders outside the flag's definition?): counted as given")
            out["revenue"] = out["revenue"].fillna(0.0)
    dup = out["customer_id"].duplicated(keep=False).to_numpy()
    if dup.any():
        i, j = np.flatnonzero(dup)[:2]
        raise DataError(f"{source}: column '{idc}', {place(df, int(i))} and {place(df, int(j))}: customer "
                        f"'{out['customer_id'].iloc[i]}' has two outcome rows (one row per customer: add up their "
                        "purchases first)")
    out = out[["customer_id", "purchased", "revenue"]]
    out.attrs.update(notes=notes, revenue_dropped=dropped)
    return out


def outcomes_from_events(ev: pd.DataFrame, start: str, end: str) -> pd.DataFrame:
    """Outcomes from a log's events (:func:`core.inputs.log.events.events`): each customer
    with a purchase day (positive net spend) in ``[start, end)`` (ISO dates) bought; revenue
    is their net spend in the window (returns netted out). Customers without a purchase in
    the window are absent: the readout counts them as not buying
    (:func:`core.activation.readout.campaign_readout`, ``missing_as_no_purchase``). Raises
    DataError for a window that is not two dates in order."""
    try:
        a, b = pd.Timestamp(start), pd.Timestamp(end)
    except ValueError:
        raise DataError(f"campaign window {start} to {end}: not dates (yyyy-mm-dd)") from None
    if not a < b:
        raise DataError(f"campaign window {start} to {end}: the end must come after the start")
    first, last = int((a.normalize() - EPOCH).days), int((b.normalize() - EPOCH).days)
    w = ev[(ev["day"] >= first) & (ev["day"] < last)]
    per_day = w.groupby(["customer_id", "day"], observed=True)["amount"].sum()
    bought = per_day[per_day > 0].reset_index().groupby("customer_id", observed=True)["amount"].sum()
    return pd.DataFrame({"customer_id": bought.index.astype(str), "purchased": 1, "revenue": bought.to_numpy(float)})
