"""A data-set spec drafted from a customer table, for a user who has none.

:func:`draft_spec` reads a table as exported and decides, column by column, what a person
writing ``configs/NAME.toml`` by hand would: the id (a unique column named like one, or
none: the row number), the target (given, or the one binary column named like a
response, purchase, conversion or churn), and for every other column its kind (from its
values, then its name), its feature group (from its name; ``other`` when unsure), a
label, a valid range from the data and a reason template. :func:`spec_toml` writes the
result as a commented TOML file that :func:`core.inputs.spec.load_spec` reads unchanged; its
comments say what was guessed and what to check.

The rules are plain and documented here, not learned: a drafted spec is a starting point
that a person reads, and every decision can be changed in the file or on the Admin page's
column-mapping form.

- **Kinds.** Booleans and two-valued columns of 0/1, true/false, yes/no, y/n: ``binary``.
  Text that parses as dates (ISO, or one day/month order throughout): ``date``. Numbers
  (including text written with a currency sign or thousands separators): ``rate`` when all
  lie in [0, 1] and are not all whole, or the name says rate/share/ratio/percent;
  ``currency`` when the name says money (spend, amount, income, price, revenue, ``Mnt``...)
  or the text carried a currency sign; ``duration`` when the name says seconds, minutes,
  duration; ``count`` when all are whole and non-negative and the name says number,
  count, visits, purchases, orders...; otherwise ``numeric``. Text with at most
  :data:`MAX_LEVELS` levels: ``categorical``; more levels (names, free text): ignored.
  Constant columns: ignored.
- **Groups** by name keywords (:data:`GROUP_WORDS`), first match wins; ``other`` otherwise.
- **Segmentation groups**: ``behavioral`` and ``transactional`` when they hold a numeric
  column, else every group that does.
"""
from __future__ import annotations

import json
import re
from types import SimpleNamespace
from dataclasses import dataclass, field
from dataclasses import replace as dataclasses_replace

import numpy as np
import pandas as pd

from core.errors import DataError
from core.inputs import validation
from core.inputs import words as W
from core.inputs.spec import ColumnSpec, DatasetSpec
from core.inputs.tables import place

#: Most levels a text column may have to be drafted as categorical (beyond: ignored as
#: free text, names or ids).
MAX_LEVELS = 50
#: Words that name an id column (whole words of the normalised name).
ID_WORDS = ("id", "key", "uuid", "guid", "code", "no", "number", "email", "account")
#: Words that name a campaign response, purchase, conversion or churn target.
TARGET_WORDS = ("response", "responded", "respond", "purchase", "purchased", "bought", "buy", "buyer", "convert",
                "converted", "conversion", "churn", "churned", "target", "label", "outcome")
#: Name keywords of each feature group, tried in this order (first match wins).
GROUP_WORDS = (
    ("support", ("complain", "complaint", "ticket", "support", "csat", "nps", "call", "refund")),
    ("campaigns", ("campaign", "cmp", "accepted", "offer", "promo", "coupon", "newsletter", "email", "special")),
    ("tenure", ("tenure", "since", "signup", "joined", "member", "registration", "registered", "dt", "customer",
                "first", "enrol", "enroll", "account", "age_days")),
    ("demographics", ("age", "birth", "gender", "sex", "income", "education", "marital", "kid", "kids",
                      "teen", "child", "children", "kidhome", "teenhome", "household", "city", "region", "country", "state", "zip",
                      "location", "salary", "occupation", "job", "married", "dependents", "visitortype", "visitor",
                      "browser", "operatingsystems", "os", "traffictype", "device")),
    ("transactional", ("spend", "spent", "amount", "mnt", "purchase", "purchases", "order", "orders", "revenue",
                       "price", "value", "sales", "deal", "deals", "discount", "basket", "cart", "monetary",
                       "frequency", "transactions", "items", "products", "catalog", "store", "gold", "wines",
                       "fruits", "meat", "fish", "sweet", "total", "charge", "charges", "fee", "fees", "bill")),
    ("behavioral", ("visit", "visits", "session", "sessions", "page", "pages", "pagevalues", "view", "views",
                    "recency", "duration", "bounce", "bounces", "exit", "exits", "browse", "login", "logins",
                    "click", "clicks", "web", "app", "administrative", "informational", "productrelated", "month",
                    "weekend", "day", "specialday", "last", "active")),
)
CURRENCY_WORDS = ("spend", "spent", "amount", "income", "price", "revenue", "sales", "value", "cost", "salary",
                  "balance", "monetary", "mnt", "paid", "payment", "aov", "charge", "charges", "fee", "fees", "bill")
DURATION_WORDS = ("duration", "seconds", "secs", "minutes", "mins", "hours", "time")
RATE_WORDS = ("rate", "share", "ratio", "percent", "pct", "proportion", "probability", "prob")
COUNT_WORDS = ("num", "number", "count", "n", "visits", "purchases", "orders", "times", "items", "qty",
               "quantity", "kidhome", "teenhome", "kids", "children", "pages", "sessions", "clicks", "tickets",
               "accepted", "logins", "views", "administrative", "informational", "productrelated")
RECENCY_WORDS = ("recency", "dayssincelast", "lastpurchase", "dayssincepurchase")
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%d/%m/%Y", "%m/%d/%Y", "%d-%m-%Y", "%m-%d-%Y", "%d.%m.%Y",
                "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M", "%Y%m%d")


words = W.split  # the lower-case words of a column name (core.inputs.words.split)


def _has(name: str, vocab) -> bool:
    w = words(name)
    joined = "".join(w)
    return any(v in w for v in vocab) or any(len(v) > 5 and v in joined for v in vocab)


label = W.label  # an English label for a column name (core.inputs.words.label)


@dataclass
class Draft:
    """A drafted spec and what was decided: ``spec`` (:class:`~core.inputs.spec.DatasetSpec`),
    ``decisions`` (one plain line per decision worth a look, for the terminal and the file),
    ``notes`` (per column: what to check, written as comments beside it) and ``ignored``
    (column -> why it is not used)."""

    spec: DatasetSpec
    decisions: list[str]
    notes: dict[str, str] = field(default_factory=dict)
    ignored: dict[str, str] = field(default_factory=dict)


def _binary_values(s: pd.Series) -> bool:
    v = s.dropna()
    if v.empty:
        return False
    if v.dtype == bool:
        return True
    mapped = validation.binary_numbers(v)
    return bool(mapped.isin([0, 1]).all()) and mapped.nunique() == 2


def _date_format(s: pd.Series) -> str | None | bool:
    """The format that parses every value of a text column (None: ISO through pandas),
    or False when the column is not dates."""
    v = s.dropna().astype(str).str.strip()
    if v.empty or not v.str.contains(r"\d", regex=True).all() or not v.str.contains(r"[-/.:]", regex=True).all():
        return False
    sample = v.iloc[:2000]
    for fmt in DATE_FORMATS:
        if pd.to_datetime(sample, format=fmt, errors="coerce").notna().all() and \
                pd.to_datetime(v, format=fmt, errors="coerce").notna().all():
            return fmt
    return False


def _kind(name: str, s: pd.Series) -> tuple[str | None, str, dict]:
    """``(kind or None to ignore, note, extra ColumnSpec fields)`` for one column."""
    v = s.dropna()
    if v.empty:
        return None, "empty in every row", {}
    if v.astype(str).nunique() == 1:
        return None, f"constant ('{v.iloc[0]}')", {}
    if _binary_values(s):
        return "binary", "", {}
    if s.dtype.kind in "Mm":
        return "date", "", {}
    num, converted = (pd.to_numeric(s, errors="coerce"), 0) if s.dtype.kind in "biuf" else validation.to_number(s)
    is_number = bool((num.notna() | s.isna()).all())
    if not is_number:
        fmt = _date_format(s)
        if fmt is not False:
            swapped = {"%d/%m/%Y": "%m/%d/%Y", "%m/%d/%Y": "%d/%m/%Y", "%d-%m-%Y": "%m-%d-%Y",
                       "%m-%d-%Y": "%d-%m-%Y"}.get(fmt)
            ambiguous = swapped is not None and bool(
                pd.to_datetime(v.astype(str).str.strip(), format=swapped, errors="coerce").notna().all())
            note = ("dates read as " + fmt + " (day and month could be the other way round: check)") if ambiguous else ""
            return "date", note, {"date_format": fmt, "unit": "days"}
        levels = v.astype(str).str.strip().nunique()
        if levels <= MAX_LEVELS:
            return "categorical", "", {}
        return None, f"text with {levels:,} distinct values (names or free text)", {}
    x = num.dropna().to_numpy(float)
    whole = bool(np.all(np.isclose(x, np.round(x))))
    code = W.code_note(name, s, x, whole)
    if code:
        return "categorical", code, {}
    lo, hi = float(x.min()), float(x.max())
    sign = converted and s.dropna().astype(str).str.contains(r"[$€£¥₹]", regex=True).any()
    if _has(name, RATE_WORDS) and lo >= 0 and (hi <= 1 or hi <= 100):
        kind = "rate"
    elif lo >= 0 and hi <= 1 and not whole:
        kind = "rate"
    elif sign or (_has(name, CURRENCY_WORDS) and lo >= 0):
        kind = "currency"
    elif _has(name, DURATION_WORDS) and lo >= 0:
        kind = "duration"
    elif whole and lo >= 0 and _has(name, COUNT_WORDS):
        kind = "count"
    else:
        kind = "numeric"
    note = f"{converted:,} value(s) with a currency sign or thousands separators" if converted else ""
    extra = {}
    if kind in ("count", "currency", "duration") or (kind == "rate" and lo >= 0):
        extra["min"] = 0
    if kind == "rate":
        extra["max"] = 1 if hi <= 1 else 100
    elif kind == "numeric":
        extra["min"], extra["max"] = _round(lo), _round(hi)
        extra["out_of_range"] = "clip"
    return kind, note, extra


def _round(v: float):
    return int(v) if float(v).is_integer() else float(f"{v:.6g}")


def _group(name: str) -> str:
    for group, vocab in GROUP_WORDS:
        if _has(name, vocab):
            return group
    return "other"


def find_id(df: pd.DataFrame, given: str | None = None, target: str | None = None, source: str = "table") -> str | None:
    """The id column of ``df``: ``given`` (checked unique where it has a value), else the
    first column named like an id (:data:`ID_WORDS`) other than the target whose values are
    unique and whole (:func:`_unique_ids`), else None (the row number is the id). Rows with
    an empty id are left out and said when the table is read (the spec's ``missing_id``).
    Raises DataError for a ``given`` column that is missing, or repeats a value (naming its line)."""
    if given:
        if given not in df.columns:
            raise DataError(f"{source}: no column '{given}' (--id); the columns are {', '.join(map(str, df.columns))}")
        s = df[given]
        dup = (s.astype(str).duplicated() & s.notna()).to_numpy()
        if dup.any():
            at = place(df, int(np.flatnonzero(dup)[0]))
            raise DataError(f"{source}: column '{given}' (--id) is not a unique id: '{s.iloc[int(np.flatnonzero(dup)[0])]}' "
                            f"repeats at {at}")
        return given
    for c in df.columns:
        if c != target and _has(str(c), ID_WORDS) and _unique_ids(df[c]):
            return str(c)
    return None


def _unique_ids(s: pd.Series) -> bool:
    """Whether ``s`` can be an id: some values, all different, and whole where they are
    numbers (a CSV id column with blanks reads as floats: ``5524.0``, still an id)."""
    v = s.dropna()
    if v.empty:
        return False
    if s.dtype.kind == "f" and not np.allclose(v, np.round(v)):
        return False
    return not v.astype(str).duplicated().any()


#: Words that make a column an id whatever else it holds (``ID``, ``customer_id``, ``CustomerID``).
STRONG_ID_WORDS = ("id", "uuid", "guid")


def _repeated_id(values: pd.Series, name: str) -> str | None:
    """Why a column named like an id (:data:`STRONG_ID_WORDS`) that repeats a value is not
    used, naming the first repeat and its rows (1-based); None for any other column."""
    if values.dtype.kind == "f" or not any(w in STRONG_ID_WORDS for w in words(name)):
        return None
    text = values.astype(str)
    dup = text.duplicated(keep=False) & values.notna()
    if not dup.any():
        return None
    if values.dtype.kind in "iub" and values.nunique() <= W.CODE_MAX_LEVELS:  # a few codes: categories, not an id
        return None
    first = text[dup].iloc[0]
    a, b = (place(values, int(i)) for i in np.flatnonzero((text == first).to_numpy())[:2])
    return (f"named like an id but '{first}' repeats at {a} and {b}: not used; if it is the "
            f"customer id, remove the repeated rows and give --id {name}")


def find_target(df: pd.DataFrame, given: str | None = None, source: str = "table") -> str:
    """The target column of ``df``: ``given`` (checked present), else the one two-valued
    column (:func:`core.inputs.validation.binary_numbers`) named like a response, purchase, conversion
    or churn (:data:`TARGET_WORDS`). Raises DataError when ``given`` is missing, or when
    two columns or none fit."""
    if given:
        if given not in df.columns:
            raise DataError(f"{source}: no column '{given}' (--target); the columns are {', '.join(map(str, df.columns))}")
        return given
    found = [str(c) for c in df.columns if _has(str(c), TARGET_WORDS) and _binary_values(df[c])]
    if len(found) > 1:
        raise DataError(f"{source}: more than one column could be the target ({', '.join(found)}): give one with --target")
    if not found:
        raise DataError(f"{source}: no binary column is named like a response, purchase, conversion or churn: "
                        "give the target with --target COLUMN")
    return found[0]


def draft_spec(df: pd.DataFrame, *, target: str | None = None, id_column: str | None = None,
               name: str = "table", source: str = "table") -> Draft:
    """Draft a spec for the table ``df`` (as read by :func:`core.inputs.tables.read_table`, n rows).

    Parameters
    ----------
    df : the table as read.
    target : the target column (None: the one binary column named like a response,
        purchase, conversion or churn, :data:`TARGET_WORDS`).
    id_column : the id column (None: the first unique, complete, non-float column named
        like an id, :data:`ID_WORDS`; no such column: the row number).
    name : the data set's name in the spec.
    source : the file, for messages.

    Returns a :class:`Draft`; its spec passes :func:`core.inputs.validation.validate` on ``df``.

    Raises
    ------
    DataError
        A given target or id is not a column, a given id is not unique, two columns could
        be the target, none could, the target is not binary, or no column is left to
        segment on.
    """
    tgt = find_target(df, target, source)
    if df[tgt].nunique() == 1:
        raise DataError(f"{source}: target '{tgt}' holds one value only ('{df[tgt].dropna().iloc[0]}'): a model needs "
                        "customers of both kinds (bought and did not)")
    if not _binary_values(df[tgt]):
        found = ", ".join(repr(str(v)) for v in pd.unique(df[tgt].astype(str))[:6])
        raise DataError(f"{source}: target '{tgt}' is not binary (values found: {found}; expected 0/1, true/false, "
                        "yes/no or y/n)")
    idc = find_id(df, id_column, tgt, source)
    decisions = [f"target: '{tgt}'" + ("" if target else " (named like a response; give --target to choose another)")]
    decisions.append(f"id: '{idc}'" if idc else "id: none found, so the row number (1-based) is the customer id")
    cols, notes, ignored = [], {}, {}
    for c in df.columns:
        c = str(c)
        if c in (tgt, idc):
            continue
        repeated = _repeated_id(df[c], c)
        if repeated:  # an id column with repeats is no feature: its numbers mean nothing
            ignored[c] = repeated
            continue
        kind, note, extra = _kind(c, df[c])
        if kind is None:
            ignored[c] = note
            continue
        group = _group(c)
        cols.append(_column(c, kind, group, **extra))
        check = [note] if note else []
        if kind == "binary" and _has(c, TARGET_WORDS):
            check.append("named like a target: if it is known only after the prediction date it leaks the answer "
                         "(leave it out: untick it on the Admin page's form, or delete its [columns] table here "
                         "and add its name to ignore)")
        if group == "other":
            check.append("group not recognised from the name: set it")
        if check:
            notes[c] = "; ".join(check)
    if not cols:
        raise DataError(f"{source}: no column is left to learn from besides the id and the target")
    seg = _segmentation_groups(cols)
    if not seg:
        raise DataError(f"{source}: no numeric column to segment on (every feature is binary or categorical)")
    recency = next((c.name for c in cols if c.kind not in ("binary", "categorical", "date")
                    and "".join(words(c.name)) in RECENCY_WORDS), None)
    roles = W.money_roles([(c.name, c.kind) for c in cols])
    decisions += [f"{r.replace('_', ' ')}: " + (" + ".join(c) if isinstance(c, tuple) else c) for r, c in roles.items()]
    kinds = pd.Series([c.kind for c in cols]).value_counts()
    decisions.append(f"{len(cols)} features: " + ", ".join(f"{n} {k}" for k, n in kinds.items()))
    decisions.append("segments on the groups " + ", ".join(seg))
    if ignored:
        decisions.append("ignored: " + "; ".join(f"{c} ({why})" for c, why in ignored.items()))
    if notes:
        decisions.append(f"to check: {len(notes)} column(s), commented in the spec")
    spec = DatasetSpec(name=name, id_column=idc or "row_number", target=tgt, columns=tuple(cols),
                       segmentation_groups=tuple(seg), ignore=tuple(ignored), id_from_row=idc is None,
                       target_label=W.target_phrase(tgt), recency_column=recency, **roles)
    return Draft(spec, decisions, notes, ignored)


def _column(name: str, kind: str, group: str, **extra) -> ColumnSpec:
    """A drafted column: its English label, reason template and persona words (:mod:`core.inputs.words`)."""
    lab = label(name)
    reason = f"{lab[:1].upper()}{lab[1:]}: {{value}}" + (" days ago" if kind == "date" else "")
    persona = {} if kind == "categorical" else {"high_name": W.persona_words(name, lab, kind, True),
                                                "low_name": W.persona_words(name, lab, kind, False)}
    return ColumnSpec(name=name, kind=kind, group=group, label=lab, reason=reason, **persona, **extra)


def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name, ensure_ascii=False)


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return json.dumps(str(v), ensure_ascii=False)  # a TOML basic string is JSON's string syntax


#: The money roles a drafted spec writes, with the comment that says what each is for.
ROLE_COMMENTS = (
    ("value_column", "Spend (a column, or several summed): average spend per segment, high-value cells in the playbook."),
    ("order_value_column", "Average order value: expected revenue = expected buyers x the segment's mean of it."),
    ("discount_column", "Discount or deal use: the playbook tells deal-seekers apart by it."),
)


def spec_toml(draft: Draft, source: str = "") -> str:
    """The drafted spec as TOML text that :func:`core.inputs.spec.load_spec` reads, with comments
    on what was guessed (at the top) and what to check (beside each column)."""
    s = draft.spec
    lines = [f"# Spec drafted from {source or 'a table'} by `python -m core spec draft`: read it, check the",
             "# lines marked CHECK, change kinds and groups where the guess is wrong, then train with it.",
             *[f"# - {d}" for d in draft.decisions],
             f"name = {_value(s.name)}"]
    if s.id_from_row:
        lines += ["# No unique id column was found: the row number (1-based, header not counted) is the id.",
                  f"id = {_value(s.id_column)}", "id_from_row = true"]
    else:
        lines.append(f"id = {_value(s.id_column)}")
    lines += [f"target = {_value(s.target)}", f"target_label = {_value(s.target_label)}",
              "# Groups whose numeric columns define the segments; the other groups only describe them.",
              f"segmentation_groups = {_value(list(s.segmentation_groups))}"]
    if s.recency_column:
        lines += ["# Days since the last purchase: the recency-only peer in the propensity comparison.",
                  f"recency_column = {_value(s.recency_column)}"]
    for key, why in ROLE_COMMENTS:
        if getattr(s, key):
            lines += [f"# {why}", f"{key} = {_value(getattr(s, key))}"]
    if s.ignore:
        lines += ["# Not used: " + "; ".join(f"{c}: {why}" for c, why in draft.ignored.items()),
                  f"ignore = {_value(list(s.ignore))}"]
    for c in s.columns:
        lines += ["", f"[columns.{_key(c.name)}]"]
        if c.name in draft.notes:
            lines.append(f"# CHECK: {draft.notes[c.name]}")
        lines += [f"kind = {_value(c.kind)}", f"group = {_value(c.group)}", f"label = {_value(c.label)}",
                  f"reason = {_value(c.reason)}"]
        if c.high_name or c.low_name:
            lines += [f"high_name = {_value(c.high_name)}   # persona words of a segment high on it",
                      f"low_name = {_value(c.low_name)}   # ... and low on it"]
        if c.unit:
            lines.append(f"unit = {_value(c.unit)}")
        for key in ("min", "max"):
            if getattr(c, key) is not None:
                lines.append(f"{key} = {_value(getattr(c, key))}")
        if c.out_of_range != "missing":
            lines.append(f"out_of_range = {_value(c.out_of_range)}   # values outside the range seen are clipped")
        if c.date_format:
            lines.append(f"date_format = {_value(c.date_format)}")
    return "\n".join(lines) + "\n"


def choices(draft: Draft) -> pd.DataFrame:
    """The drafted columns as an editable table, one row per column of the file other than
    the id and the target: ``column``, ``use`` (bool), ``kind``, ``group``, ``note`` (what
    was guessed or why it is ignored). The Admin page's column form shows it."""
    rows = [{"column": c.name, "use": True, "kind": c.kind, "group": c.group, "label": c.label,
             "high words": c.high_name, "low words": c.low_name, "note": draft.notes.get(c.name, "")}
            for c in draft.spec.columns]
    rows += [{"column": c, "use": False, "kind": "numeric", "group": "other", "label": label(c), "high words": "",
              "low words": "", "note": f"ignored: {why}"}
             for c, why in draft.ignored.items()]
    return pd.DataFrame(rows, columns=CHOICE_COLUMNS)


#: The columns of the draft form (:func:`choices`); the person edits all but ``column`` and ``note``.
CHOICE_COLUMNS = ["column", "use", "kind", "group", "label", "high words", "low words", "note"]


def apply_choices(draft: Draft, edited: pd.DataFrame) -> Draft:
    """The draft with the kinds, groups, use, labels and persona words of ``edited`` (a
    :func:`choices` table as a person changed it; a blank label or words cell keeps the
    drafted one): a column's reason, range and date format stay as drafted while its kind
    does; a changed kind drops the range (the drafted one belonged to the old kind). The
    segmentation groups and the money roles (:func:`core.inputs.words.money_roles`) are chosen again.

    Raises DataError for an unknown kind or group, or when no numeric column is left to
    segment on."""
    old = {c.name: c for c in draft.spec.columns}
    cols, ignored = [], {}
    for rec in edited.to_dict("records"):
        row = SimpleNamespace(**{k.replace(" ", "_"): v for k, v in rec.items()})
        name = str(row.column)
        if not bool(row.use):
            ignored[name] = draft.ignored.get(name, "left out on the column form")
            continue
        base = old.get(name)
        given = {k: " ".join(str(v).split()) if isinstance(v := rec.get(k), str) else ""
                 for k in ("label", "high words", "low words")}
        if base is not None and base.kind == row.kind:
            col = dataclasses_replace(base, group=str(row.group))
        else:
            col = _column(name, str(row.kind), str(row.group))
        lab = given["label"] or col.label
        cols.append(dataclasses_replace(col, label=lab, high_name=given["high words"] or col.high_name,
                                        low_name=given["low words"] or col.low_name,
                                        reason=col.reason if lab == col.label else f"{lab[:1].upper()}{lab[1:]}: {{value}}"))
    if not cols:
        raise DataError("no column is used: tick at least one")
    seg = _segmentation_groups(cols)
    if not seg:
        raise DataError("no numeric column is left to segment on (every used column is binary or categorical)")
    spec = dataclasses_replace(draft.spec, columns=tuple(cols), ignore=tuple(ignored), segmentation_groups=tuple(seg),
                               recency_column=draft.spec.recency_column if draft.spec.recency_column in
                               {c.name for c in cols if c.kind not in ("binary", "categorical", "date")} else None,
                               **{"value_column": None, "order_value_column": None, "discount_column": None,
                                  **W.money_roles([(c.name, c.kind) for c in cols])})
    return Draft(spec, draft.decisions + ["kinds and groups edited on the column form"],
                 {k: v for k, v in draft.notes.items() if k in {c.name for c in cols}}, ignored)


def _segmentation_groups(cols) -> list[str]:
    numeric_groups = [g for g in dict.fromkeys(c.group for c in cols)
                      if any(k.group == g and k.kind not in ("binary", "categorical") for k in cols)]
    return [g for g in ("behavioral", "transactional") if g in numeric_groups] or numeric_groups
