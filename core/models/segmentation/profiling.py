"""Segment profiles and persona names a marketer can read.

For each segment: size, share, purchase rate (when the target is known), and for every
numeric feature the segment median and mean, the population median and mean, the ratio of
medians, and the standardized difference

    d = (mean_segment - mean_population) / sd_population

computed on the modelling scale (log1p for counts, money and durations, as in
:mod:`core.models.features`) so a long tail does not dominate. The features with the largest
``|d|`` are the segment's most distinctive. Categorical features get the share of each
level in the segment against the population.

Persona names are built from data, not if/else chains: each column's spec carries the
words used when a segment is high (``high_name``) or low (``low_name``) on it; the name
joins the words of the two most distinctive columns whose ``|d|`` is at least
:data:`NAME_MIN_EFFECT` (a small effect in Cohen's 1988 terms is 0.2; we require a
medium-to-large 0.5); a column without words of its own gets words that fit its kind
(:func:`core.inputs.words.persona_words`). Names never contradict or repeat themselves and
are made unique by adding the next distinctive column (:func:`_name_segments`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from core.inputs.spec import SKEWED_KINDS, DatasetSpec
from core.inputs.words import persona_words, topic

NAME_MIN_EFFECT = 0.5
#: A column added to tell clashing names apart must itself differ this much (Cohen's small effect).
TELL_APART_MIN_EFFECT = 0.2
#: Longest persona name, characters (a name that would be longer keeps fewer parts).
MAX_NAME = 40
TOP_FEATURES = 5


def _modelling_scale(values: np.ndarray, kind: str) -> np.ndarray:
    return np.log1p(np.clip(values, 0, None)) if kind in SKEWED_KINDS else values


def _words(spec: DatasetSpec, column: str, high: bool) -> str:
    """The persona words of a segment high (or low) on ``column``: the spec's ``high_name`` /
    ``low_name``, else words that fit the column's kind (:func:`core.inputs.words.persona_words`)."""
    c = spec.column(column)
    given = c.high_name if high else c.low_name
    return given or persona_words(c.name, c.label, c.kind, high)


def profile_segments(clean: pd.DataFrame, segment_id: np.ndarray, spec: DatasetSpec,
                     counted: np.ndarray | None = None) -> list[dict]:
    """Profile every segment.

    Parameters
    ----------
    clean : validated table, n rows.
    segment_id : int array of shape (n,), the segment ids (not necessarily 0..k-1 once ids
        carry over between runs).
    spec : the table's spec.
    counted : optional bool array of shape (n,): the rows that are customers to count. A
        table of stacked snapshots (a log-built run) holds a customer once per cutoff: its
        sizes, shares, purchase rates and average spend count the latest snapshot's rows
        only, while the feature statistics (and so the names) use every row.

    Returns
    -------
    list of k dicts (in increasing segment id), JSON-safe, each with ``segment_id``, ``name``,
    ``size``, ``share``, ``purchase_rate`` (None without a target), ``average_spend`` (mean of
    the spec's spend, :meth:`~core.inputs.spec.DatasetSpec.spend`; None without one), ``top_features``
    (list of ``{feature, label, std_diff, direction}``), ``features`` (per numeric feature:
    ``median``, ``mean``, ``pop_median``, ``pop_mean``, ``ratio_median``, ``std_diff``)
    and ``categorical`` (per categorical feature: ``{level: [segment_share, population_share]}``).
    """
    segment_id = np.asarray(segment_id)
    n = len(clean)
    numeric = [c for c in spec.columns if not c.is_categorical]
    pop = {}
    for c in numeric:
        v = clean[c.name].to_numpy(float)
        t = _modelling_scale(v, c.kind)
        pop[c.name] = (np.nanmedian(v) if np.isfinite(v).any() else np.nan, np.nanmean(v) if np.isfinite(v).any() else np.nan,
                       np.nanmean(t) if np.isfinite(t).any() else np.nan, np.nanstd(t) if np.isfinite(t).any() else np.nan)
    y = clean[spec.target].to_numpy(float) if spec.target and spec.target in clean else None
    spend = spec.spend(clean)
    spend = None if spend is None else spend.to_numpy(float)
    counted = np.ones(n, bool) if counted is None else np.asarray(counted, bool)
    n_counted = int(counted.sum())
    profiles = []
    for seg in (sorted(int(v) for v in np.unique(segment_id)) if n else []):
        m = segment_id == seg
        feats = {}
        for c in numeric:
            v = clean[c.name].to_numpy(float)[m]
            t = _modelling_scale(v, c.kind)
            pmed, pmean, tmean, tsd = pop[c.name]
            fin = np.isfinite(v)
            med = float(np.median(v[fin])) if fin.any() else None
            mean = float(v[fin].mean()) if fin.any() else None
            d = float((np.nanmean(t) - tmean) / tsd) if fin.any() and tsd and tsd > 0 else 0.0
            ratio = float(med / pmed) if med is not None and pmed not in (0, None) and np.isfinite(pmed) else None
            feats[c.name] = {"median": med, "mean": mean, "pop_median": _f(pmed), "pop_mean": _f(pmean),
                             "ratio_median": ratio, "std_diff": d}
        cats = _categorical_shares(clean, m, spec)
        ranked = sorted(((name, f["std_diff"]) for name, f in feats.items()
                         if spec.column(name).group in spec.segmentation_groups),
                        key=lambda kv: (-abs(kv[1]), kv[0]))
        top = [{"feature": name, "label": spec.column(name).label, "std_diff": d,
                "direction": "higher" if d > 0 else "lower"} for name, d in ranked[:TOP_FEATURES]]
        c = m & counted
        profiles.append({
            "segment_id": seg,
            "size": int(c.sum()),
            "share": float(c.sum() / n_counted) if n_counted else 0.0,
            "purchase_rate": float(y[c].mean()) if y is not None and c.any() else None,
            "average_spend": (float(np.nanmean(spend[c])) if spend is not None and np.isfinite(spend[c]).any()
                              else None),
            "top_features": top,
            "ranked": ranked,
            "features": feats,
            "categorical": cats,
        })
    _name_segments(profiles, spec)
    for p in profiles:
        p.pop("ranked")
    return profiles


def _categorical_shares(clean: pd.DataFrame, m: np.ndarray, spec: DatasetSpec) -> dict:
    """Per categorical feature: ``{level: [share in the segment (rows m), share of all]}``."""
    cats = {}
    for c in spec.columns:
        if c.is_categorical:
            seg_share = clean.loc[m, c.name].value_counts(normalize=True, dropna=False)
            pop_share = clean[c.name].value_counts(normalize=True, dropna=False)
            cats[c.name] = {("(missing)" if pd.isna(k) else str(k)): [float(seg_share.get(k, 0.0)), float(v)]
                            for k, v in pop_share.items()}
    return cats


def _f(x) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def _name_segments(profiles: list[dict], spec: DatasetSpec) -> None:
    """Set ``name`` on each profile: readable, true of the segment, unique across segments.

    Base name: the words (:func:`_words`) of the two most distinctive columns (``|d| >=
    NAME_MIN_EFFECT``). A name never uses two columns of one topic
    (:func:`core.inputs.words.topic`: ``administrative`` and ``administrative duration``;
    ``recency`` twice cannot read "low recency, high recency") nor two parts ending in the
    same word ("recent buyers, frequent buyers"), and keeps to :data:`MAX_NAME` characters.
    Segments whose names clash, as sets of parts in any order, get one more part: the column
    on which the segment differs most from the other clashing segments, among those where the
    segment itself differs from everyone by ``|d| >= TELL_APART_MIN_EFFECT`` in the same
    direction (so the added words are true of it); when the name would pass :data:`MAX_NAME`
    with it, it replaces the second part. A name that still clashes gets "(segment N)".
    """
    def part(name, d):
        return {"column": name, "words": _words(spec, name, d > 0), "topic": topic(name, spec.column(name).label)}

    def fits(parts, new, short=True):
        last = new["words"].lower().split()[-1:]
        return all(p["topic"] != new["topic"] and p["words"].lower() != new["words"].lower()
                   and (len(last) == 0 or p["words"].lower().split()[-1:] != last or len(p["words"].split()) == 1)
                   for p in parts) and (not short or len(compose(parts + [new])) <= MAX_NAME)

    def compose(parts):
        if not parts:
            return "Typical customers"
        words = [p["words"] for p in parts]
        return ", ".join([words[0]] + [x[0].lower() + x[1:] for x in words[1:]])

    def key(parts):
        return frozenset(p["words"].lower() for p in parts) or frozenset({"typical customers"})

    parts: dict[int, list[dict]] = {}
    for p in profiles:
        picked: list[dict] = []
        for name, d in p["ranked"]:
            if abs(d) < NAME_MIN_EFFECT or len(picked) == 2:
                break
            new = part(name, d)
            if fits(picked, new) or (not picked and len(new["words"]) <= MAX_NAME):
                picked.append(new)
        parts[p["segment_id"]] = picked
    groups: dict[frozenset, list[dict]] = {}
    for p in profiles:
        groups.setdefault(key(parts[p["segment_id"]]), []).append(p)
    for group in groups.values():
        if len(group) < 2:
            continue
        for p in group:
            others = [q for q in group if q is not p]
            own = dict(p["ranked"])
            diffs = sorted(((name, d - np.mean([q["features"][name]["std_diff"] for q in others]))
                            for name, d in p["ranked"]), key=lambda kv: (-abs(kv[1]), kv[0]))
            for name, delta in diffs:
                d = own[name]
                if abs(d) < TELL_APART_MIN_EFFECT or np.sign(d) != np.sign(delta):
                    continue
                new, have = part(name, d), parts[p["segment_id"]]
                if fits(have, new):
                    parts[p["segment_id"]] = have + [new]
                    break
                if len(have) > 1 and fits(have[:1], new):  # too long with it: it replaces the second part
                    parts[p["segment_id"]] = have[:1] + [new]
                    break
    used: set[frozenset] = set()
    for p in profiles:
        k = key(parts[p["segment_id"]])
        nm = compose(parts[p["segment_id"]])
        if k in used:
            nm = f"{nm} (segment {p['segment_id']})"
        used.add(k)
        p["name"] = nm


#: Depth of the surrogate tree: at most 4 conditions per rule, readable aloud.
RULE_MAX_DEPTH = 4


def _fmt_threshold(value: float, unit: str) -> str:
    if abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{text} {unit}".strip() if unit and unit not in ("share", "currency") else text


def _conditions(col, threshold: float, has_missing: bool, missing_left: bool) -> tuple[str, str]:
    """The two plain-language conditions of a split ``value <= threshold`` on ``col``."""
    unk = " (or unknown)"
    if not np.isfinite(threshold):  # scikit-learn's split of the known values from the missing ones
        known, unknown = f"{col.label} known", f"{col.label} unknown"
        return (unknown, known) if missing_left else (known, unknown)
    if col.kind in ("count", "binary") or (col.kind == "duration" and col.unit == "days"):
        lo = int(np.floor(threshold))
        left, right = f"{col.label} at most {lo:,}", f"{col.label} {lo + 1:,} or more"
        if col.kind == "binary":
            left, right = f"not {col.label}", col.label
    else:
        thr = _fmt_threshold(threshold, col.unit)
        left, right = f"{col.label} at most {thr}", f"{col.label} above {thr}"
    if has_missing:
        left, right = (left + unk, right) if missing_left else (left, right + unk)
    return left, right


def surrogate_tree(X: np.ndarray, labels: np.ndarray, random_state: int = 0):
    """The surrogate CART tree (Breiman et al. 1984) behind the rules: depth at most
    :data:`RULE_MAX_DEPTH`, leaves of at least 0.5% of the rows (5 at least), missing values
    handled natively. ``X`` shape (m, d), ``labels`` shape (m,). Returns the fitted
    scikit-learn ``DecisionTreeClassifier``."""
    from sklearn.tree import DecisionTreeClassifier

    return DecisionTreeClassifier(max_depth=RULE_MAX_DEPTH, min_samples_leaf=max(5, int(0.005 * len(X))),
                                  random_state=random_state).fit(X, labels)


def surrogate_rules(clean: pd.DataFrame, segment_id: np.ndarray, spec: DatasetSpec, columns: list[str],
                    random_state: int = 0, sample_size: int = 50_000) -> dict:
    """Plain-language rules for each segment from a shallow surrogate decision tree.

    A scikit-learn ``DecisionTreeClassifier`` (CART, Breiman et al. 1984; depth at most
    :data:`RULE_MAX_DEPTH`, leaves of at least 0.5% of the rows, missing values handled
    natively) is trained to predict the segment from the original (unscaled) ``columns``
    on a seeded sample of at most ``sample_size`` rows. Each leaf is a rule: the
    conditions on its path, in the spec's plain labels. A segment's rules are the leaves
    that predict it. This is the global-surrogate method (Molnar, *Interpretable Machine
    Learning*, ch. "Global Surrogate").

    Parameters
    ----------
    clean : validated table, n rows.
    segment_id : int array of shape (n,).
    columns : numeric columns the rules may use (usually the segmentation inputs).

    Returns
    -------
    dict with ``fidelity`` (share of all n customers whose segment the rules reproduce),
    ``depth``, and ``segments``: ``{segment_id: {"fidelity": recall of the segment by its
    rules, "rules": [{"text", "customers", "precision"}...]}}`` (rules sorted by size).
    """
    segment_id = np.asarray(segment_id)
    n = len(clean)
    rng = np.random.default_rng(random_state)
    idx = np.sort(rng.choice(n, size=min(sample_size, n), replace=False))
    X = clean[columns].to_numpy(float)
    tree = surrogate_tree(X[idx], segment_id[idx], random_state)
    pred = tree.predict(X)
    paths, node_class = _rule_paths(tree, clean, spec, columns)
    out = {"fidelity": float((pred == segment_id).mean()), "depth": int(tree.get_depth()), "segments": {}}
    rule = _rule_of_rows(tree, paths, X)
    for seg in np.unique(segment_id):
        members = segment_id == seg
        rules = _rules_of(paths, node_class, seg, rule, members)
        fidelity = float((pred[members] == seg).mean())
        if not rules:  # no leaf of the shared tree predicts it: its own one-against-the-rest tree
            rules, fidelity = _own_rules(X, idx, members, clean, spec, columns, random_state)
        out["segments"][int(seg)] = {"fidelity": fidelity, "rules": rules}
    return out


def _rule_of_rows(tree, paths: dict, X: np.ndarray) -> np.ndarray:
    """The rule node (a leaf, or the root of a subtree that is one rule) of each row of ``X``."""
    t = tree.tree_
    rule_of_leaf = np.empty(t.node_count, dtype=int)

    def mark(node: int, rule: int) -> None:
        rule_of_leaf[node] = rule
        if t.children_left[node] != -1:
            mark(t.children_left[node], rule)
            mark(t.children_right[node], rule)

    for node in paths:
        mark(node, node)
    return rule_of_leaf[tree.apply(X)]


def _rules_of(paths: dict, node_class: dict, seg, rule: np.ndarray, members: np.ndarray) -> list[dict]:
    """The rules predicting ``seg``: text, customers in them, precision; the largest first."""
    rules = []
    for node, conds in paths.items():
        if node_class[node] != seg:
            continue
        in_leaf = rule == node
        rules.append({"text": " and ".join(conds) if conds else "all customers", "customers": int(in_leaf.sum()),
                      "precision": float(members[in_leaf].mean()) if in_leaf.any() else 0.0})
    return sorted(rules, key=lambda r: -r["customers"])


def _own_rules(X: np.ndarray, idx: np.ndarray, members: np.ndarray, clean: pd.DataFrame, spec: DatasetSpec,
               columns: list[str], random_state: int) -> tuple[list[dict], float]:
    """Rules for a segment that no leaf of the shared surrogate tree predicts (a small one):
    a tree of the same depth trained on this segment against the rest, its classes weighted
    to balance (scikit-learn's ``class_weight="balanced"``), so it finds where the segment's
    customers are, and its leaves predicting the segment as the rules. Returns the rules and
    the share of the segment's customers they cover (its fidelity)."""
    from sklearn.tree import DecisionTreeClassifier

    y = members[idx]
    if not y.any():  # the sample holds none of it: train on every row
        idx, y = np.arange(len(X)), members
    tree = DecisionTreeClassifier(max_depth=RULE_MAX_DEPTH, min_samples_leaf=max(2, int(0.2 * y.sum())),
                                  class_weight="balanced", random_state=random_state).fit(X[idx], y)
    paths, node_class = _rule_paths(tree, clean, spec, columns)
    rule = _rule_of_rows(tree, paths, X)
    rules = _rules_of(paths, node_class, True, rule, members)
    covered = np.isin(rule, [n for n in paths if node_class[n]])
    return rules, float(covered[members].mean())


def _rule_paths(tree, clean: pd.DataFrame, spec: DatasetSpec, columns: list[str]) -> tuple[dict, dict]:
    """The rules of a fitted surrogate tree: ``{rule node: [conditions in plain words]}`` and
    ``{rule node: the segment it predicts}``, a whole subtree predicting one segment being
    one rule (its root the rule node)."""
    t = tree.tree_
    classes = tree.classes_
    paths: dict[int, list[str]] = {}  # rule node -> conditions; a rule node may be a merged subtree
    node_class = {}

    def majority(node: int):
        """The class every leaf under ``node`` predicts, or None when they differ."""
        if t.children_left[node] == -1:
            return classes[int(np.argmax(t.value[node][0]))]
        a, b = majority(t.children_left[node]), majority(t.children_right[node])
        return a if a is not None and a == b else None

    def walk(node: int, conds: list[str]) -> None:
        cls = majority(node)
        if cls is not None:  # a whole subtree predicting one segment is one rule
            paths[node], node_class[node] = conds, cls
            return
        col = spec.column(columns[t.feature[node]])
        left, right = _conditions(col, float(t.threshold[node]), clean[col.name].isna().any(),
                                  bool(t.missing_go_to_left[node]) if hasattr(t, "missing_go_to_left") else True)
        walk(t.children_left[node], conds + [left])
        walk(t.children_right[node], conds + [right])

    walk(0, [])
    return paths, node_class


def describe_segment(profile: dict, spec: DatasetSpec, base_rate: float | None, n_features: int = 3) -> str:
    """A one-paragraph, plain-English description of a segment with its numbers.

    Example: "9.2% of customers (22,080). 41.0% bought in the next 30 days, 2.3x the
    average. Compared with the average customer: orders in the last 12 months 3.1x the
    average (median 9 vs 3); days since the last order 0.2x the average (median 12 vs 95)."
    Ratios are of means; the target phrase is the spec's ``target_label``.

    Parameters
    ----------
    profile : one entry of :func:`profile_segments`.
    base_rate : population rate of the target (None without a target).
    n_features : how many of the most distinctive features to describe.
    """
    parts = [f"{profile['share']:.1%} of customers ({profile['size']:,})."]
    rate = profile.get("purchase_rate")
    if rate is not None and base_rate:
        parts.append(f"{rate:.1%} {spec.target_label}, {rate / base_rate:.1f}x the average.")
    lines = []
    for top in profile["top_features"][:n_features]:
        f = profile["features"][top["feature"]]
        mean, pop = f["mean"], f["pop_mean"]
        if mean is None or pop in (None, 0):
            continue
        lines.append(f"{top['label']} {mean / pop:.1f}x the average (median {_num(f['median'])} vs {_num(f['pop_median'])})")
    if lines:
        parts.append("Compared with the average customer: " + "; ".join(lines) + ".")
    return " ".join(parts)


def _num(x) -> str:
    if x is None:
        return "n/a"
    return f"{x:,.0f}" if abs(x) >= 100 or float(x).is_integer() else f"{x:.2f}".rstrip("0").rstrip(".")
