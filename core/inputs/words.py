"""Words a marketer reads, made from the column names of an exported table.

Exported tables name their columns for machines (``MntMeatProducts``, ``NumWebVisitsMonth``,
``Dt_Customer``, ``AcceptedCmp3``). :func:`label` turns a name into an English label
(``spend on meat products``, ``web visits per month``, ``customer since (date)``,
``accepted campaign 3``): the name is split into words (snake_case, CamelCase, digits) and the
abbreviations common in CRM and e-commerce exports are expanded (:data:`ABBREVIATIONS`).
:func:`persona_words` gives the words a persona name uses for a segment that is high or low on
a column, by the column's kind: recency columns read recent / lapsed, counts frequent / rare,
spend big / low spenders, durations long / short. :func:`target_sentence` says a target
such as ``Response`` as a phrase (:func:`target_phrase`, "customers who responded") and
:func:`future` puts it in the future tense ("the probability that they will respond").

These are product rules, not a method from the literature; they are tested on the names of
the real tables in ``../shared/data`` and on made-up names of the same habits
(``tests/inputs/test_words.py``).
"""
from __future__ import annotations

import re

#: Abbreviations of exported column names and their words (lower case). "mnt" (amount
#: spent) reads "spend on"; "num"/"cnt"/"n" (number of) are dropped before a plural noun.
ABBREVIATIONS = {
    "mnt": "spend on", "amt": "amount", "num": "number of", "no": "number of", "nr": "number of", "qty": "quantity",
    "cnt": "number of", "avg": "average", "pct": "percent", "perc": "percent", "dt": "date", "cmp": "campaign",
    "prods": "products", "prod": "product", "cust": "customer", "txn": "transactions", "trx": "transactions",
    "yr": "year", "yrs": "years", "mo": "month", "mos": "months", "tot": "total", "min": "minimum",
    "max": "maximum", "acct": "account", "addr": "address", "freq": "frequency", "rev": "revenue",
    "disc": "discount", "ord": "order", "ords": "orders", "sess": "sessions", "id": "id",
}
#: Words after which "month", "week", "day" or "year" means "per ...": counts and amounts.
_PER = ("month", "week", "day", "year")
#: Time units a recency column counts in ("days since the last order", "weeks ago").
TIME_UNITS = ("days", "day", "weeks", "week", "months", "month")
#: Words of a spend column (money paid by the customer), as opposed to other money (income).
SPEND_WORDS = ("spend", "spent", "mnt", "amount", "amt", "revenue", "sales", "monetary", "paid", "payment", "value",
               "order", "orders", "basket", "purchases", "purchase", "aov", "bill", "charges")


def split(name: str) -> list[str]:
    """The lower-case words of a column name: split at what is not a letter or digit, at
    letter/digit boundaries and at camelCase (``MntWines`` -> ``["mnt", "wines"]``,
    ``Year_Birth`` -> ``["year", "birth"]``, ``ProductRelated_Duration`` -> ``["product",
    "related", "duration"]``, ``HTTPStatus`` -> ``["http", "status"]``). Letters are any
    script's (``Région`` -> ``["région"]``): case by ``str.isupper`` / ``str.islower``."""
    out = []
    for run in re.findall(r"[^\W\d_]+|\d+", str(name)):  # runs of letters, runs of digits
        start = 0
        for i in range(1, len(run)):
            prev, ch, nxt = run[i - 1], run[i], run[i + 1] if i + 1 < len(run) else ""
            if (prev.islower() and ch.isupper()) or (prev.isupper() and ch.isupper() and nxt.islower()):
                out.append(run[start:i])
                start = i
        out.append(run[start:])
    return [w.lower() for w in out]


def label(name: str) -> str:
    """An English label for a column name (lower case, at most one space between words).

    ``MntMeatProducts`` -> ``spend on meat products``; ``NumWebVisitsMonth`` -> ``web visits
    per month``; ``NumDealsPurchases`` -> ``deal purchases``; ``Year_Birth`` -> ``year of
    birth``; ``Dt_Customer`` -> ``customer since (date)``; ``AcceptedCmp3`` -> ``accepted
    campaign 3``; ``avg_session_duration`` -> ``average session duration``. A name with no
    letters or digits is returned as given.
    """
    w = split(name)
    if not w:
        return str(name)
    if w == ["year", "birth"]:
        return "year of birth"
    if w[0] == "dt" and len(w) > 1:  # Dt_Customer: the date the customer joined
        return " ".join(w[1:]) + " since (date)"
    if len(w) == 1 and w[0].endswith("home") and len(w[0]) > 6:  # Kidhome, Teenhome: how many live at home
        return w[0][:-4] + "s at home"
    out: list[str] = []
    plural_end = len(w) > 1 and w[-1].endswith("s") or (len(w) > 2 and w[-1] in _PER and w[-2].endswith("s"))
    for i, word in enumerate(w):
        nxt = w[i + 1] if i + 1 < len(w) else ""
        if i == 0 and word in ("num", "cnt", "no", "nr", "n") and plural_end:
            continue  # "number of" before a plural reads better without it: web visits, purchases
        if word in _PER and i > 0 and i == len(w) - 1 and out and out[-1].endswith("s"):
            out.append("per " + word)  # visits month -> visits per month
            continue
        if word.endswith("s") and not word.endswith("ss") and len(word) > 3 and nxt.endswith("s") and nxt not in _PER:
            word = word[:-1]  # deals purchases -> deal purchases
        out.append(ABBREVIATIONS.get(word, word))
    text = " ".join(" ".join(out).split())
    return text or str(name)


def is_recency(name: str, label_text: str = "", kind: str = "") -> bool:
    """Whether a column counts time since something (days since the last order, recency):
    high means long ago. Dates (kind ``date``) are turned into days since, so they are too."""
    w = set(split(name)) | set(label_text.lower().split())
    return kind == "date" or "recency" in w or ("since" in w and kind != "binary") or (
        bool(w & {"last", "ago"}) and bool(w & set(TIME_UNITS)))


#: Words of a count of events (a count of them reads "frequent" / "rare"; other counts "many" / "few").
EVENT_WORDS = ("purchases", "visits", "orders", "sessions", "clicks", "logins", "views", "opens", "transactions",
               "tickets", "complaints", "calls", "returns", "bookings", "trips", "plays", "downloads", "searches",
               "pageviews", "contacts", "accepted", "redemptions", "refunds", "events")
#: Words of activity other than buying (their recency reads "recently active" / "long inactive").
ACTIVITY_WORDS = ("visit", "visits", "login", "logins", "session", "sessions", "activity", "active", "seen", "open",
                  "opened", "click", "clicked", "app", "web")


def persona_words(name: str, label_text: str, kind: str, high: bool) -> str:
    """The words of a persona name for a segment high (``high``) or low on a column, by its
    kind (capitalised):

    - recency (:func:`is_recency`): ``Lapsed buyers`` / ``Recent buyers`` (``Long inactive`` /
      ``Recently active`` for visits, sessions, logins);
    - a date (days since it): ``Long-standing customers`` / ``Newer customers``;
    - year of birth: ``Younger`` / ``Older``; age: ``Older`` / ``Younger``;
    - spend (currency named as spend): ``Big spenders on wines`` / ``Low spenders on wines``;
    - counts of events (:data:`EVENT_WORDS`): ``Frequent web purchases`` / ``Rare ...``;
      other counts: ``Many kids at home`` / ``Few kids at home``;
    - durations: ``Long session duration`` / ``Short ...``;
    - binary: ``Mostly accepted campaign 3`` / ``Rarely accepted campaign 3``;
    - anything else: ``High income`` / ``Low income``.
    """
    lab = label_text or label(name)
    w = set(split(name)) | set(lab.split())
    if kind == "date" and not (w & {"last", "latest", "recent"}):
        return "Long-standing customers" if high else "Newer customers"
    if kind in ("count", "numeric", "duration", "date", "currency") and is_recency(name, lab, kind):
        if w & set(ACTIVITY_WORDS) and not (w & {"order", "orders", "purchase", "purchases", "bought", "buy"}):
            return "Long inactive" if high else "Recently active"
        return "Lapsed buyers" if high else "Recent buyers"
    if "birth" in w and "year" in w:
        return "Younger" if high else "Older"
    if w & {"age"} and kind in ("numeric", "count"):
        return "Older" if high else "Younger"
    if kind == "currency" and w & set(SPEND_WORDS):
        what = lab[len("spend on "):] if lab.startswith("spend on ") else lab
        return f"Big spenders on {what}" if high else f"Low spenders on {what}"
    if kind == "count":
        if w & set(EVENT_WORDS):
            return f"Frequent {lab}" if high else f"Rare {lab}"
        return f"Many {lab}" if high else f"Few {lab}"
    if kind == "duration":
        return f"Long {lab}" if high else f"Short {lab}"
    if kind == "binary":
        return f"Mostly {lab}" if high else f"Rarely {lab}"
    return f"High {lab}" if high else f"Low {lab}"


def topic(name: str, label_text: str = "") -> str:
    """The topic of a column: the first of its label's words that is not a quantity word,
    in the singular (``administrative duration`` and ``administrative`` share the topic
    ``administrative``; ``orders in the last 90 days`` and ``days since the last order`` the
    topic ``order``). Two columns of one topic are not both named in one persona."""
    generic = {"spend", "on", "number", "of", "average", "total", "per", "month", "week", "day", "year", "duration",
               "count", "rate", "share", "amount", "the", "in", "last", "days", "since", "percent", "months", "weeks",
               "years", "a", "with", "by", "per", "minimum", "maximum", "mean", "median", "value", "quantity"}
    lab = label_text or label(name)
    kept = [x for x in lab.lower().split() if x not in generic and not x.isdigit()]
    first = kept[0] if kept else lab.lower()
    # one topic for singular and plural: "orders in the last 90 days" and "days since the last order"
    return first[:-1] if first.endswith("s") and not first.endswith("ss") and len(first) > 3 else first


#: Past-tense verbs of target labels and their base form (for the future tense).
_PAST = {"bought": "buy", "purchased": "purchase", "responded": "respond", "accepted": "accept", "churned": "churn",
         "converted": "convert", "ordered": "order", "made": "make", "renewed": "renew", "subscribed": "subscribe",
         "clicked": "click", "opened": "open", "returned": "return", "left": "leave", "cancelled": "cancel",
         "canceled": "cancel", "upgraded": "upgrade", "signed": "sign", "visited": "visit", "spent": "spend",
         "redeemed": "redeem", "joined": "join", "did": "do", "was": "be", "were": "be", "had": "have"}


def target_phrase(target: str) -> str:
    """A target label in the past tense, to follow "customers who": ``Response`` ->
    ``responded``, ``purchased_next_30d`` -> ``bought in the next 30 days``, ``Churn`` ->
    ``churned``, ``converted`` -> ``converted``; another name -> ``had <label> = yes``."""
    w = split(target)
    days = next((x for x in w if x.isdigit()), None)
    within = f" in the next {days} days" if days and ({"next", "d", "days"} & set(w)) else ""
    if set(w) & {"response", "responded", "respond", "responses"}:
        return "responded" + within
    if set(w) & {"purchased", "purchase", "buy", "bought", "buyer", "order", "ordered"}:
        return "bought" + within
    if set(w) & {"churn", "churned", "attrition", "attrited"}:
        return "churned" + within
    if set(w) & {"convert", "converted", "conversion"}:
        return "converted" + within
    return f"had {label(target)} = yes"


def future(target_label: str) -> str:
    """A past-tense target label (as specs write it, to follow "customers who") in the future
    tense, to follow "the probability that they": ``bought in the next 30 days`` -> ``will buy
    in the next 30 days``; ``accepted the last campaign offer`` -> ``will accept the last
    campaign offer``; ``had X = yes`` -> ``will have X = yes``. A label whose first word is
    not a known past-tense verb gets ``will be among those who <label>``."""
    text = " ".join(str(target_label or "").split())
    if not text:
        return "will be in the target"
    first, _, rest = text.partition(" ")
    base = _PAST.get(first.lower())
    if base is None:
        return f"will be among those who {text}"
    return f"will {base}" + (f" {rest}" if rest else "")


#: Words of a column holding the total spend (the value column by itself).
TOTAL_WORDS = ("total", "monetary", "lifetime", "ltv", "clv")
#: Words of an average order value column.
ORDER_VALUE_WORDS = ("aov", "basket", "ordervalue", "avgorder", "averageorder")
#: Words of a discount-use column.
DISCOUNT_WORDS = ("discount", "discounts", "deal", "deals", "coupon", "coupons", "promo", "voucher", "vouchers")
#: Money that is not spend at the shop.
NOT_SPEND_WORDS = ("income", "salary", "balance", "cost", "price", "wage", "wealth")


def money_roles(columns: list[tuple[str, str]]) -> dict:
    """The spec's money roles proposed from ``(name, kind)`` of the drafted columns:
    ``value_column`` (a spend column named as a total, else every spend column, summed by
    :meth:`~core.inputs.spec.DatasetSpec.spend`), ``order_value_column`` (an average order value)
    and ``discount_column`` (discount or deal use); a role without a fitting column is left out.
    Spend columns are currency columns named as spend (:data:`SPEND_WORDS`), not income,
    salary or prices (:data:`NOT_SPEND_WORDS`)."""
    def has(name, vocab):
        w = split(name)
        return any(v in w for v in vocab) or any(len(v) > 5 and v in "".join(w) for v in vocab)

    spend = [n for n, k in columns if k == "currency" and has(n, SPEND_WORDS) and not has(n, NOT_SPEND_WORDS)]
    order = next((n for n in spend if has(n, ORDER_VALUE_WORDS) or {"order", "value"} <= set(split(n))), None)
    spend = [n for n in spend if n != order]
    total = next((n for n in spend if has(n, TOTAL_WORDS)), None)
    out: dict = {}
    if total or spend:
        out["value_column"] = total or (spend[0] if len(spend) == 1 else tuple(spend))
    if order:
        out["order_value_column"] = order
    discount = next((n for n, k in columns if k in ("rate", "count", "numeric", "currency") and has(n, DISCOUNT_WORDS)),
                    None)
    if discount:
        out["discount_column"] = discount
    return out


#: Words that say a whole-number column holds codes (labels of categories), not amounts:
#: ``Region`` 1..9, ``Browser`` 1..13, ``OperatingSystems``, ``TrafficType``, a shop id.
CODE_WORDS = ("code", "codes", "type", "types", "id", "region", "browser", "system", "systems", "os", "channel",
              "category", "class", "zone", "segment")
#: Most levels a whole-number column may have to be drafted as codes (:data:`CODE_WORDS`);
#: more levels read as a quantity.
CODE_MAX_LEVELS = 30


def code_note(name: str, s, x, whole: bool) -> str:
    """Why a number column (``s`` as read, ``x`` its numbers without the missing ones,
    ``whole`` whether all are whole) holds codes rather than amounts (a ``CHECK`` note of a
    drafted spec), or "" when it does not: whole numbers with at most
    :data:`CODE_MAX_LEVELS` levels whose name says code (:data:`CODE_WORDS`, whole words,
    or within the name for words over five letters), or text numbers written with leading
    zeros (``"07"``), as codes are and amounts never are."""
    import numpy as np

    levels = len(np.unique(x))
    if not whole or levels > CODE_MAX_LEVELS:
        return ""
    w = split(name)
    if any(v in w for v in CODE_WORDS) or any(len(v) > 5 and v in "".join(w) for v in CODE_WORDS):
        return (f"whole numbers with {levels} levels, named like a code: taken as categories (a level is a label, "
                "not an amount); make it numeric if a larger number means more")
    if s.dtype.kind not in "biuf" and s.dropna().astype(str).str.strip().str.fullmatch(r"0\d+").any():
        return (f"numbers written with leading zeros ({levels} levels): taken as category codes; make it numeric "
                "if they are amounts")
    return ""
