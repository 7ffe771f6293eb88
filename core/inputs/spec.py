"""Data-set specs: which column is the id, the target, and what each feature is.

A :class:`DatasetSpec` describes one customer-level table. Everything downstream
(validation, preprocessing, segmentation, propensity, profiling) reads the spec and never
a hard-coded column list, so any table with a spec runs. The ShopSphere spec is built in
(:func:`shopsphere_spec`); other tables get a TOML file in ``configs/`` read by
:func:`load_spec`.

Column kinds and what the pipeline does with them:

============  ==========================================================================
kind          meaning and treatment
============  ==========================================================================
numeric       any real number; imputed, scaled
count         non-negative whole number (orders, sessions); log1p before scaling
currency      money amount; log1p (of the value clipped at 0) before scaling
duration      time length in the column's unit (seconds, days); log1p before scaling
rate          share in 0..1 (or the column's min/max); scaled as is
binary        0/1 flag; scaled as is
categorical   text levels; one-hot for the linear model and segmentation, native
              categorical support in XGBoost
date          calendar date; turned into "days before the reference date" (a duration)
============  ==========================================================================

Out-of-range values (below ``min`` or above ``max``) follow the column's
``out_of_range`` rule: ``"missing"`` (default: the value is set missing) or ``"clip"``
(moved to the nearest bound). Each change is counted in the data-quality summary.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from core.errors import DataError
from core.settings import read_toml

KINDS = ("numeric", "count", "currency", "duration", "rate", "binary", "categorical", "date")


#: Kinds whose distribution is right-skewed: log1p is applied before scaling.
SKEWED_KINDS = ("count", "currency", "duration")


#: Feature groups. ``activity`` holds recent-window counts and model-based scores (a log's
#: purchases in the last 30 days, BG/NBD's P(alive)): strong for propensity, but redundant
#: with the behaviour they summarise, so by default they profile segments, not make them.
GROUPS = ("demographics", "behavioral", "transactional", "support", "tenure", "campaigns", "activity", "other")


@dataclass(frozen=True)
class ColumnSpec:
    """One input column.

    Parameters
    ----------
    name : str
        Column name in the file.
    kind : str
        One of :data:`KINDS`.
    group : str
        Feature group, one of :data:`GROUPS` (used to pick segmentation inputs and to
        sum importance by group).
    unit : str
        Unit shown to people ("days", "seconds", "currency", "share", "" for none).
    label : str
        Plain-English noun phrase for the column ("orders in the last 12 months").
    high_name, low_name : str
        Words used in a segment's persona name when the segment is high / low on this
        column ("Frequent buyers" / "Rare buyers"). Empty: built from ``label``.
    min, max : float or None
        Valid range; values outside follow ``out_of_range``.
    out_of_range : {"missing", "clip"}
        Rule for values outside ``[min, max]``.
    categories : tuple of str or None
        Known levels of a categorical column; None: learned from the training table.
    date_format : str or None
        ``strftime`` format of a date column; None: ISO dates.
    reason : str
        Template of a customer's reason code for this column, with ``{value}`` for the
        customer's own value ("Ordered {value} times in the last 90 days"). Empty: "<Label>:
        {value}". See :func:`core.models.explain.reason_texts`.
    """

    name: str
    kind: str
    group: str = "other"
    unit: str = ""
    label: str = ""
    high_name: str = ""
    low_name: str = ""
    min: float | None = None
    max: float | None = None
    out_of_range: str = "missing"
    categories: tuple[str, ...] | None = None
    date_format: str | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        if self.reason and "{value}" not in self.reason:
            raise DataError(f"column '{self.name}': reason must contain {{value}}, got {self.reason!r}")
        if self.kind not in KINDS:
            raise DataError(f"column '{self.name}': unknown kind '{self.kind}' (expected one of {', '.join(KINDS)})")
        if self.group not in GROUPS:
            raise DataError(f"column '{self.name}': unknown group '{self.group}' (expected one of {', '.join(GROUPS)})")
        if self.out_of_range not in ("missing", "clip"):
            raise DataError(f"column '{self.name}': out_of_range must be 'missing' or 'clip', not '{self.out_of_range}'")
        for bound in ("min", "max"):
            v = getattr(self, bound)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise DataError(f"column '{self.name}': {bound} must be a number, not {v!r}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise DataError(f"column '{self.name}': min {self.min} is above max {self.max}")
        if not self.label:
            object.__setattr__(self, "label", self.name.replace("_", " "))

    @property
    def is_categorical(self) -> bool:
        """True for text-level columns (kind ``categorical``)."""
        return self.kind == "categorical"


@dataclass(frozen=True)
class DatasetSpec:
    """A customer-level table: id, optional binary target, typed feature columns.

    Parameters
    ----------
    name : str
        Data-set name shown in the app and written in the run manifest.
    id_column : str
        Unique customer id (read as text, so leading zeros are kept).
    target : str or None
        Binary 0/1 column to predict; required for training, not for scoring.
    columns : tuple of ColumnSpec
        The model inputs.
    segmentation_groups : tuple of str
        Feature groups used as segmentation inputs; the others only profile segments.
    reference_date : str or None
        ISO date from which date columns are counted ("days before"); None: the latest
        date in the training table (stored in the run and reused at scoring).
    ignore : tuple of str
        Columns present in the file that are not used (constants, free text).
    evaluation_columns : tuple of str
        Columns kept for evaluation only (never model inputs), e.g. the generator's
        ``_persona`` and ``_true_propensity``.
    target_label : str
        What a positive target means, as a verb phrase for people ("bought in the next 30
        days", "accepted the offer"); the app uses it instead of assuming a purchase.
    value_column : str, tuple of str, or None
        The currency feature giving a customer's spend (ShopSphere: 12-month spend), or
        several whose sum is the spend (a table with spend per product line: ``MntWines``,
        ``MntMeatProducts``...); the segment cards show its segment mean as "average spend" and
        the playbook tells high-value cells by it (:meth:`spend`). None: not shown.
    recency_column : str or None
        A feature counting days since the last purchase; the propensity comparison table
        includes a recency-only score (fewer days ranks higher). None: that row is left out.
    snapshot_column : str or None
        A date column (not a feature) giving each row's snapshot or cutoff date; when set,
        propensity uses an out-of-time split (test on the latest snapshot).
    allow_leaky : tuple of str
        Features the leakage guard lets through (see :func:`core.models.propensity.leakage_check`).
    order_value_column : str or None
        A currency feature giving a customer's average order value (ShopSphere:
        ``avg_order_value``); the segment matrix's expected revenue is expected buyers x the
        segment's mean of it. None: no revenue figures.
    discount_column : str or None
        A feature measuring discount use (ShopSphere: ``discount_usage_rate``); the playbook
        (:mod:`core.activation.playbook`) uses it to tell deal-seekers apart. None: that rule is skipped.
    id_from_row : bool
        The table has no id column: a table without a column ``id_column`` gets one holding
        the 1-based row number (header not counted) as text, said in the quality notes and
        written in every export.
    missing_id : str
        Rows whose id is empty: ``drop`` (default) leaves them out and says how many and
        where the first is in the quality notes; ``refuse`` stops at the first, naming its line.
    """

    name: str
    id_column: str
    target: str | None
    columns: tuple[ColumnSpec, ...]
    segmentation_groups: tuple[str, ...] = ("behavioral", "transactional", "support")
    reference_date: str | None = None
    ignore: tuple[str, ...] = ()
    evaluation_columns: tuple[str, ...] = ()
    target_label: str = "responded"
    value_column: str | tuple[str, ...] | None = None
    recency_column: str | None = None
    snapshot_column: str | None = None
    allow_leaky: tuple[str, ...] = ()
    order_value_column: str | None = None
    discount_column: str | None = None
    id_from_row: bool = False
    missing_id: str = "drop"

    def __post_init__(self) -> None:
        if self.missing_id not in ("drop", "refuse"):
            raise DataError(f"spec '{self.name}': missing_id must be 'drop' or 'refuse', got {self.missing_id!r}")
        if isinstance(self.segmentation_groups, str) or not all(isinstance(g, str) for g in self.segmentation_groups):
            raise DataError(f"spec '{self.name}': segmentation_groups must be a list of group names")
        unknown = [g for g in self.segmentation_groups if g not in GROUPS]
        if unknown:
            raise DataError(f"spec '{self.name}': unknown segmentation group '{unknown[0]}' (expected some of {', '.join(GROUPS)})")
        if self.reference_date is not None:
            try:
                date.fromisoformat(str(self.reference_date))
            except ValueError:
                raise DataError(f"spec '{self.name}': reference_date '{self.reference_date}' is not an ISO date (yyyy-mm-dd)") from None
        names = [c.name for c in self.columns]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise DataError(f"spec '{self.name}': column '{dup[0]}' is listed twice")
        for special in (self.id_column, self.target):
            if special and special in names:
                raise DataError(f"spec '{self.name}': column '{special}' is the id or target and cannot be a feature")
        for role in ("value_column", "recency_column", "order_value_column", "discount_column"):
            col = getattr(self, role)
            for one in (col if isinstance(col, tuple) else () if col is None else (col,)):
                if one not in names:
                    raise DataError(f"spec '{self.name}': {role} '{one}' is not one of the columns")
        if self.snapshot_column is not None and self.snapshot_column in names + [self.id_column, self.target]:
            raise DataError(f"spec '{self.name}': snapshot_column '{self.snapshot_column}' must not be a feature, "
                            "the id or the target")
        if isinstance(self.allow_leaky, str) or any(c not in names for c in self.allow_leaky):
            bad = self.allow_leaky if isinstance(self.allow_leaky, str) else next(c for c in self.allow_leaky if c not in names)
            raise DataError(f"spec '{self.name}': allow_leaky lists '{bad}', which is not one of the columns")
        if not self.segmentation_columns:
            raise DataError(f"spec '{self.name}': no numeric feature is in the segmentation groups {list(self.segmentation_groups)}")

    @property
    def value_columns(self) -> tuple[str, ...]:
        """The spend columns (:attr:`value_column` as a tuple; empty without one)."""
        v = self.value_column
        return () if v is None else v if isinstance(v, tuple) else (v,)

    def spend(self, table: pd.DataFrame) -> pd.Series | None:
        """Each row's spend, currency: the sum of :attr:`value_columns` in ``table`` (missing
        parts count 0; a row missing all of them is NaN); None without a value column or when
        ``table`` lacks one of them."""
        cols = self.value_columns
        if not cols or any(c not in table.columns for c in cols):
            return None
        return table[list(cols)].apply(pd.to_numeric, errors="coerce").sum(axis=1, min_count=1)

    @property
    def feature_names(self) -> list[str]:
        """Names of all model input columns, in spec order."""
        return [c.name for c in self.columns]

    @property
    def segmentation_columns(self) -> list[str]:
        """Names of the segmentation inputs: columns in ``segmentation_groups`` except binary
        flags and categoricals. A 0/1 flag splits density-based clusters into a "flag on" and
        a "flag off" copy of the same behaviour, so flags only profile segments."""
        return [c.name for c in self.columns
                if c.group in self.segmentation_groups and c.kind not in ("binary", "categorical")]

    def column(self, name: str) -> ColumnSpec:
        """The :class:`ColumnSpec` called ``name``; raises ``KeyError`` when absent."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_dict(self) -> dict:
        """Plain-dict form, written into run manifests (JSON-safe)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "DatasetSpec":
        """Inverse of :meth:`to_dict`. Raises :class:`DataError` on unknown keys."""
        d = dict(d)
        try:
            cols = []
            for c in d.pop("columns"):
                c = dict(c)
                if c.get("categories") is not None:
                    c["categories"] = tuple(str(x) for x in c["categories"])
                cols.append(ColumnSpec(**c))
            for key in ("segmentation_groups", "ignore", "evaluation_columns", "allow_leaky"):
                if key in d:
                    d[key] = tuple(d[key])
            if isinstance(d.get("value_column"), list):
                d["value_column"] = tuple(d["value_column"])
            return cls(columns=tuple(cols), **d)
        except TypeError as exc:  # unknown or missing keys
            raise DataError(f"spec: {exc}") from None


def spec_hash(spec: DatasetSpec) -> str:
    """SHA-256 (hex) of the spec's JSON form: a run refuses tables described by another spec."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(spec.to_dict(), sort_keys=True, default=str).encode()).hexdigest()


#: The top-level keys of a spec TOML (docs/reference/spec.md lists each).
SPEC_KEYS = ("name", "id", "id_from_row", "missing_id", "target", "target_label", "segmentation_groups", "reference_date", "ignore",
             "value_column", "order_value_column", "recency_column", "discount_column", "snapshot_column",
             "allow_leaky", "columns")


def load_spec(path: str | Path) -> DatasetSpec:
    """Read a TOML data-set spec.

    The file has top-level keys ``name``, ``id`` (with ``id_from_row = true`` when the table
    has no id column), ``target`` (optional),
    ``segmentation_groups``, ``reference_date``, ``ignore``, and a ``[columns.NAME]``
    table per feature with the :class:`ColumnSpec` fields (``kind`` required).
    See ``configs/marketing_campaign.toml``.

    Raises
    ------
    DataError
        File missing or unreadable, TOML syntax error, unknown key, unknown kind/group, or
        a log spec (``kind = "log"``).
    """
    path = Path(path)
    raw = read_toml(path, "spec file")
    if raw.get("kind") == "log":  # a transaction log's spec (core.inputs.log.load_log_spec), not a table's
        raise DataError(f"{path} is a log spec: give the log with --log LOG (train, retrain, score), not as a table")
    unknown = sorted(set(raw) - set(SPEC_KEYS))
    if unknown:
        raise DataError(f"spec file {path}: unknown key '{unknown[0]}'")
    for key in ("name", "id", "columns"):
        if key not in raw:
            raise DataError(f"spec file {path}: required key '{key}' is missing")
    if not isinstance(raw["columns"], dict) or not raw["columns"]:
        raise DataError(f"spec file {path}: 'columns' must be tables [columns.NAME], one per feature")
    cols = []
    for name, body in raw["columns"].items():
        if not isinstance(body, dict) or "kind" not in body:
            raise DataError(f"spec file {path}: column '{name}' needs a 'kind'")
        body = dict(body)
        unknown = sorted(set(body) - {f.name for f in dataclasses.fields(ColumnSpec)} | ({"name"} & set(body)))
        if unknown:
            raise DataError(f"spec file {path}: column '{name}': unknown key '{unknown[0]}'")
        if "categories" in body:
            body["categories"] = tuple(str(x) for x in body["categories"])
        try:
            cols.append(ColumnSpec(name=name, **body))
        except TypeError as exc:
            raise DataError(f"spec file {path}: column '{name}': {exc}") from None
        except DataError as exc:
            raise DataError(f"spec file {path}: {exc}") from None
    groups = raw.get("segmentation_groups", ["behavioral", "transactional", "support"])
    try:
        return DatasetSpec(
            name=str(raw["name"]),
            id_column=str(raw["id"]),
            target=None if raw.get("target") is None else str(raw["target"]),
            columns=tuple(cols),
            segmentation_groups=groups if isinstance(groups, str) else tuple(groups),
            reference_date=None if raw.get("reference_date") is None else str(raw["reference_date"]),
            ignore=tuple(raw.get("ignore", ())),
            target_label=str(raw.get("target_label", "responded")),
            value_column=None if raw.get("value_column") is None else tuple(str(c) for c in raw["value_column"])
            if isinstance(raw["value_column"], list) else str(raw["value_column"]),
            recency_column=None if raw.get("recency_column") is None else str(raw["recency_column"]),
            order_value_column=None if raw.get("order_value_column") is None else str(raw["order_value_column"]),
            discount_column=None if raw.get("discount_column") is None else str(raw["discount_column"]),
            id_from_row=bool(raw.get("id_from_row", False)),
            missing_id=str(raw.get("missing_id", "drop")),
            snapshot_column=None if raw.get("snapshot_column") is None else str(raw["snapshot_column"]),
            allow_leaky=raw.get("allow_leaky", ()) if isinstance(raw.get("allow_leaky", ()), str)
            else tuple(str(c) for c in raw.get("allow_leaky", ())),
        )
    except DataError as exc:
        raise DataError(f"spec file {path}: {exc}") from None
