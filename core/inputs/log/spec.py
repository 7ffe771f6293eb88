"""A transaction log's spec (TOML in ``configs/``, ``kind = "log"``): its columns and the
snapshot settings."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core.errors import DataError
from core.settings import read_toml

RETURN_MODES = ("negative", "prefix", "flag", "none")

#: What a line without a customer id (a guest checkout) does: left out and counted, or refused.
MISSING_CUSTOMER_MODES = ("drop", "refuse")


ATTRIBUTE_KINDS = ("categorical", "numeric", "count", "currency", "rate", "binary", "date")


@dataclass(frozen=True)
class LogSpec:
    """A transaction log's columns and snapshot settings.

    Parameters
    ----------
    name : data-set name of the runs built from it.
    customer_id, timestamp : column names (ids read as text).
    timestamp_format : ``strftime`` format; None: ISO or anything pandas parses.
    timezone : IANA zone the days are counted in; timestamps with an offset are converted
        to it, naive ones are taken as local to it. None: as written (UTC for offsets).
    amount : a money column; or ``quantity`` x ``unit_price``.
    quantity, unit_price, order_id, product, category, channel : optional columns.
    returns : ``negative`` (negative amount or quantity), ``prefix`` (order id starting
        with ``return_prefix``), ``flag`` (truthy ``return_flag`` column) or ``none``.
    delimiter : for text logs; None detects ``, ; tab |``; ``"whitespace"`` for runs of
        spaces (as CDNOW's master file).
    step_days, horizon_days : days between cutoffs; the label window in days.
    start : first cutoff (ISO date); None: three steps after the first event.
    cutoffs : explicit cutoffs (ISO dates), used instead of ``start`` and ``step_days``.
    min_purchases : purchase days before a cutoff a customer needs to be in its snapshot.
    currency : shown with money ("currency" by default).
    missing_customer : lines without a customer id (guest checkouts, anonymous orders):
        ``drop`` (default) leaves them out and says how many, their share of sales and their
        dates in the run's notes; ``refuse`` stops at the first, naming its line.
    customer_columns : log columns that hold one value per customer (country, customer
        type, region): customer attributes (categorical), each customer's value read from
        their first line, never line features. A ``channel`` column that is constant for
        almost every customer becomes one too (:func:`core.inputs.log.attributes.channel_as_attribute`).
    attributes : optional path of a customer attributes table (CSV, Parquet, Excel) joined
        by id, for profiling and as model inputs; ``attributes_id`` its id column (default:
        ``customer_id``'s name); ``attribute_kinds`` maps the columns to use to a kind
        (``categorical``, ``numeric``, ``count``, ``currency``, ``rate``, ``binary`` or
        ``date``; a date becomes the days from it to each cutoff, blank when it lies on or
        after the cutoff). None: every column but the id, categorical when text.
    """

    name: str
    customer_id: str
    timestamp: str
    timestamp_format: str | None = None
    timezone: str | None = None
    amount: str | None = None
    quantity: str | None = None
    unit_price: str | None = None
    order_id: str | None = None
    product: str | None = None
    category: str | None = None
    channel: str | None = None
    returns: str = "negative"
    return_prefix: str = "C"
    return_flag: str | None = None
    delimiter: str | None = None
    step_days: int = 30
    horizon_days: int = 30
    start: str | None = None
    cutoffs: tuple[str, ...] = ()
    min_purchases: int = 1
    currency: str = "currency"
    missing_customer: str = "drop"
    customer_columns: tuple[str, ...] = ()
    attributes: str | None = None
    attributes_id: str | None = None
    attribute_kinds: dict | None = None

    def __post_init__(self) -> None:
        if not self.amount and not (self.quantity and self.unit_price):
            raise DataError(f"log spec '{self.name}': give amount, or quantity and unit_price")
        if self.returns not in RETURN_MODES:
            raise DataError(f"log spec '{self.name}': returns must be one of {', '.join(RETURN_MODES)}")
        if self.missing_customer not in MISSING_CUSTOMER_MODES:
            raise DataError(f"log spec '{self.name}': missing_customer must be one of "
                            f"{', '.join(MISSING_CUSTOMER_MODES)}, got {self.missing_customer!r}")
        if self.returns == "prefix" and not self.order_id:
            raise DataError(f"log spec '{self.name}': returns = 'prefix' needs order_id")
        if self.returns == "flag" and not self.return_flag:
            raise DataError(f"log spec '{self.name}': returns = 'flag' needs return_flag")
        for key in ("step_days", "horizon_days", "min_purchases"):
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise DataError(f"log spec '{self.name}': {key} must be a whole number >= 1, got {v!r}")
        roles = {self.customer_id, self.timestamp, self.amount, self.quantity, self.unit_price, self.order_id,
                 self.product, self.category, self.channel, self.return_flag} - {None}
        both = [c for c in self.customer_columns if c in roles]
        if both:
            raise DataError(f"log spec '{self.name}': '{both[0]}' is both a customer column and another role of the "
                            "log spec")
        for col, kind in (self.attribute_kinds or {}).items():
            if kind not in ATTRIBUTE_KINDS:
                raise DataError(f"log spec '{self.name}': attribute '{col}' has kind '{kind}'; "
                                f"expected one of {', '.join(ATTRIBUTE_KINDS)}")
        for d in ([self.start] if self.start else []) + list(self.cutoffs):
            try:
                pd.Timestamp(str(d))
            except ValueError:
                raise DataError(f"log spec '{self.name}': '{d}' is not a date (yyyy-mm-dd)") from None

    @property
    def target(self) -> str:
        """The label's column name: ``purchased_next_<horizon>d``."""
        return f"purchased_next_{self.horizon_days}d"


def load_log_spec(path: str | Path) -> LogSpec:
    """Read a log spec TOML (top-level keys of :class:`LogSpec` and ``kind = "log"``).

    Raises DataError for a missing or bad file or an unknown key (naming the file)."""
    p = Path(path)
    raw = read_toml(p, "log spec")
    if raw.pop("kind", None) != "log":
        raise DataError(f"{p}: not a log spec (it needs kind = \"log\")")
    known = {f.name for f in dataclasses.fields(LogSpec)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise DataError(f"log spec {p}: unknown key '{unknown[0]}'")
    for key in ("cutoffs", "customer_columns"):
        if key in raw:
            raw[key] = tuple(str(c) for c in ([raw[key]] if isinstance(raw[key], str) else raw[key]))
    if raw.get("attributes"):  # as the person running the command means it; kept absolute in the run
        raw["attributes"] = str(Path(raw["attributes"]).resolve())
    try:
        return LogSpec(**raw)
    except DataError as exc:
        raise DataError(f"{p}: {exc}") from None
    except TypeError as exc:
        raise DataError(f"log spec {p}: {exc}") from None


def is_log_spec(path: str | Path) -> bool:
    """True when the TOML file at ``path`` declares ``kind = "log"``."""
    try:
        return read_toml(path, "log spec").get("kind") == "log"
    except DataError:
        return False
