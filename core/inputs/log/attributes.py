"""A customer attributes table beside a log (``attributes`` in the log spec), joined to
the snapshots as of each cutoff."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.errors import DataError
from core.inputs import tables
from core.inputs.log.columns import column
from core.inputs.log.events import EPOCH, first_bad
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
