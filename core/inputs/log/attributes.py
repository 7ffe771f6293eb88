"""A customer attributes table beside a log (``attributes`` in the log spec), joined to
the snapshots as of each cutoff."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.errors import DataError
from core.inputs import tables
from core.inputs.log.columns import column
from core.inputs.log.events import ATTRIBUTE_PREFIX, EPOCH, first_bad
from core.inputs.log.spec import LogSpec
from core.inputs.spec import ColumnSpec


@dataclass
class Attributes:
    """A customer attributes table read for a log (:func:`read_attributes`): ``table`` has
    ``customer_id`` (text) and one column per attribute (text for categorical, float
    otherwise, day numbers for dates); ``kinds`` maps each attribute to its kind."""

    table: pd.DataFrame
    kinds: dict
    path: str

    def join(self, snap: pd.DataFrame, cutoff: np.ndarray) -> tuple[pd.DataFrame, tuple[ColumnSpec, ...]]:
        """``snap`` (rows of a snapshot table, ``customer_id`` column) with the attributes
        left-joined by id, and their spec columns (group ``demographics``). A date becomes
        ``<name>_days``, the days from it to the row's cutoff (``cutoff``, day numbers of
        shape (n,)), blank when it lies on or after the cutoff: a date not yet known then.
        Customers without a row stay blank. Raises DataError when an attribute's name is a
        log feature's."""
        clash = [c for c in self.kinds if c in snap.columns or f"{c}_days" in snap.columns]
        if clash:
            raise DataError(f"{self.path}: attribute '{clash[0]}' has the name of a log feature; rename it")
        joined = snap[["customer_id"]].merge(self.table, on="customer_id", how="left")
        out, cols = snap.copy(), []
        for c, kind in self.kinds.items():
            label = c.replace("_", " ")
            if kind == "date":
                days = cutoff - joined[c].to_numpy(float)
                out[f"{c}_days"] = np.where(days > 0, days, np.nan)
                cols.append(column(f"{c}_days", "duration", "demographics", f"days since {label}",
                                 f"{label.capitalize()} {{value}} days ago", "days", lo=0))
            elif kind == "categorical":
                out[c] = joined[c].to_numpy(dtype=object)
                cols.append(column(c, "categorical", "demographics", label, f"{label.capitalize()}: {{value}}"))
            else:
                out[c] = joined[c].to_numpy(float)
                cols.append(column(c, kind, "demographics", label, f"{label.capitalize()}: {{value}}"))
        return out, tuple(cols)

    def summary(self) -> dict:
        """Path, rows and kinds, for the run's source."""
        return {"path": self.path, "rows": int(len(self.table)), "kinds": dict(self.kinds)}


#: Share of the customers with two lines or more whose lines carry one value of the channel
#: column, from which it is taken as a customer attribute (a wholesaler's country) rather
#: than a channel: shares of lines per level carry nothing a single value does not.
CONSTANT_SHARE = 0.99


def constant_share(ev: pd.DataFrame, column: str) -> float:
    """Share of the customers with two or more lines whose non-missing values of the events'
    ``column`` are all one level (1.0 when no customer has two lines)."""
    codes = pd.DataFrame({"c": ev["customer_id"].cat.codes.to_numpy(),
                          "v": pd.Categorical(ev[column]).codes}).query("v >= 0")
    lines = codes.groupby("c").size()
    levels = codes.drop_duplicates().groupby("c").size()
    several = lines[lines >= 2].index
    return float((levels.loc[several] == 1).mean()) if len(several) else 1.0


def channel_as_attribute(ev: pd.DataFrame, spec: LogSpec) -> tuple[pd.DataFrame, LogSpec, dict | None]:
    """When the spec's ``channel`` column holds one value per customer for at least
    :data:`CONSTANT_SHARE` of the customers with several lines, make it a customer column
    (``customer_columns``; the channel-share features are left out). Returns the events,
    the spec (changed, so a run scores as it trained) and a note (None: unchanged)."""
    if not spec.channel or ev["channel"].isna().all():
        return ev, spec, None
    share = constant_share(ev, "channel")
    if share < CONSTANT_SHARE:
        return ev, spec, None
    ev = ev.assign(**{f"{ATTRIBUTE_PREFIX}{spec.channel}": ev["channel"], "channel": None})
    spec = dataclasses.replace(spec, channel=None, customer_columns=spec.customer_columns + (spec.channel,))
    return ev, spec, {"column": spec.customer_columns[-1], "share": share}


def line_attributes(ev: pd.DataFrame, spec: LogSpec) -> Attributes | None:
    """The log's customer columns (``spec.customer_columns``) as attributes: each customer's
    value on their first line (earliest day, then file order), known from their first
    purchase on, so at every cutoff they are in a snapshot of; None without such columns."""
    if not spec.customer_columns:
        return None
    order = np.lexsort((np.arange(len(ev)), ev["day"].to_numpy()))
    first = ev.iloc[order].drop_duplicates("customer_id")
    table = pd.DataFrame({"customer_id": first["customer_id"].astype(str).to_numpy()})
    for c in spec.customer_columns:
        table[c] = first[f"{ATTRIBUTE_PREFIX}{c}"].astype("string").to_numpy(dtype=object, na_value=None)
    return Attributes(table, dict.fromkeys(spec.customer_columns, "categorical"), "the log's customer columns")


def customer_attributes(ev: pd.DataFrame, spec: LogSpec) -> Attributes | None:
    """The attributes of the log's customers: the spec's attributes table
    (:func:`read_attributes`) and the log's customer columns (:func:`line_attributes`),
    joined by id; None with neither. Raises DataError as :func:`read_attributes`, or when
    both name one column."""
    parts = [a for a in (read_attributes(spec), line_attributes(ev, spec)) if a is not None]
    if len(parts) < 2:
        return parts[0] if parts else None
    file, lines = parts
    clash = [c for c in lines.kinds if c in file.kinds]
    if clash:
        raise DataError(f"{file.path}: attribute '{clash[0]}' is also a customer column of the log; keep one")
    table = file.table.merge(lines.table, on="customer_id", how="outer")
    return Attributes(table, {**file.kinds, **lines.kinds}, f"{file.path} and the log's customer columns")


def read_attributes(spec: LogSpec) -> Attributes | None:
    """The spec's customer attributes table (``spec.attributes``), or None without one.

    Raises
    ------
    DataError
        The file is missing or unreadable, lacks the id or a named column, has an empty or
        repeated id, or a value that is not of its kind (naming the file, column and row).
    """

    if not spec.attributes:
        return None
    path = str(spec.attributes)
    raw = tables.read_table(path)
    idc = spec.attributes_id or spec.customer_id
    if idc not in raw.columns:
        raise DataError(f"{path}: missing the id column '{idc}' of the attributes table (attributes_id in the log spec)")
    kinds = dict(spec.attribute_kinds) if spec.attribute_kinds else {
        c: ("numeric" if pd.api.types.is_numeric_dtype(raw[c]) else "categorical") for c in raw.columns if c != idc}
    missing = [c for c in kinds if c not in raw.columns]
    if missing:
        raise DataError(f"{path}: missing attribute column '{missing[0]}' (attribute_kinds in the log spec)")
    ids = raw[idc].astype("string").str.strip()
    if ids.isna().any() or (ids == "").any():
        first_bad((ids.isna() | (ids == "")).to_numpy(), raw[idc].astype(str), path, idc, "an id (it is empty)")
    dup = ids.duplicated().to_numpy()
    if dup.any():
        first_bad(dup, ids, path, idc, "a unique id (it appears twice)")
    table = pd.DataFrame({"customer_id": ids.astype(str).to_numpy()})
    for c, kind in kinds.items():
        v = raw[c]
        if kind == "date":
            d = pd.to_datetime(v, errors="coerce")
            bad = (d.isna() & v.notna()).to_numpy()
            if bad.any():
                first_bad(bad, v, path, c, "a date")
            table[c] = ((d.dt.normalize() - EPOCH) / pd.Timedelta(days=1)).to_numpy(float)
        elif kind == "categorical":
            table[c] = v.astype("string").to_numpy(dtype=object, na_value=None)
        else:
            n = pd.to_numeric(v, errors="coerce")
            bad = (n.isna() & v.notna()).to_numpy()
            if bad.any():
                first_bad(bad, v, path, c, "a number")
            table[c] = n.to_numpy(float)
    return Attributes(table, kinds, path)
