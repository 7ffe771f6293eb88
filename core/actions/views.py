"""What the pages show of a run that takes a computation or a read beyond the run's own
files: the budget view, importance by feature group, segments against the classifier, a
cohort filter's control, the banded matrix, segment transitions, the run history, saved
monitoring reports. Read-only: nothing here changes a run or the runs folder.

The app caches these per run id (``ui.py``); the CLI and the report call the same
functions, so a figure is computed one way wherever it is shown.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from core.activation import cohorts, playbook, week
from core.activation.exports import csv_bytes
from core.activation.playbook import (
    BANDS,
    MIN_TEST_CUSTOMERS,
    PLAYBOOK,
    TRAIT_THRESHOLD,
)
from core.activation.readout import power_text
from core.errors import DataError
from core.inputs import tables
from core.inputs.log.spec import is_log_spec, load_log_spec
from core.inputs.shopsphere_spec import resolve_spec
from core.inputs.spec import GROUPS, KINDS, DatasetSpec
from core.models import evaluation, explain
from core.models.segmentation import continuity
from core.runs import champions, reports, store
from core.runs.names import MAX_NAME_LENGTH
from core.runs.results import RetrainReport
from core.settings import Settings

__all__ = ["BANDS", "GROUPS", "KINDS", "MAX_NAME_LENGTH", "MIN_TEST_CUSTOMERS", "PLAYBOOK", "TRAIT_THRESHOLD", "banded_matrix",
           "champion_history", "csv_bytes", "economics", "filter_control", "group_importance", "latest_report", "log_specs",
           "monitoring_reports", "power_text", "read_report", "read_upload", "retrain_report", "run_history", "segment_only_scores",
           "table_specs", "this_week", "transition_summary", "base_budget"]


def _test_rows(scored: pd.DataFrame) -> pd.DataFrame:
    """The held-out test rows of a run's scored table (none when it has no split)."""
    return scored[scored["split"] == "test"] if "split" in scored else scored.iloc[:0]


def _base_scores(scored: pd.DataFrame) -> np.ndarray:
    """The calibrated propensities of the whole scored base, highest first, shape (customers,):
    a log-built run's customers once each, as of the latest cutoff (:func:`core.activation.cohorts.latest_snapshot`)."""
    latest, _, _ = cohorts.latest_snapshot(scored)
    return np.sort(latest["propensity"].to_numpy(float))[::-1]


def economics(scored: pd.DataFrame, target: str, budget_share: float, contact_cost: float,
              conversion_value: float) -> dict:
    """The budget view (``scored``: a run's scored table, ``target`` its target column): ``base``,
    what contacting the top ``budget_share`` of the whole scored base (a log-built run: its
    customers at the latest cutoff) at ``contact_cost`` each, a buyer worth
    ``conversion_value`` (money in the table's currency), is expected to give: ``contacts``,
    ``expected_buyers`` (sum of calibrated probabilities), ``expected_profit`` (sum of
    ``p x value - cost``), and at the profit-maximising threshold ``cost / value`` (Elkan 2001)
    ``threshold_contacts`` and ``threshold_profit``; and ``budget`` / ``profit``, the same rule
    measured on the held-out test rows with their outcomes (:func:`core.models.evaluation.economics`)."""
    test = _test_rows(scored)
    out = evaluation.economics(test[target].to_numpy(int), test["propensity"].to_numpy(float), budget_share,
                               contact_cost, conversion_value) if len(test) else {}
    p = _base_scores(scored)
    k = max(1, int(round(budget_share * len(p))))
    gain = p * conversion_value - contact_cost
    keep = p >= contact_cost / conversion_value
    out["base"] = {"customers": len(p), "contacts": k, "expected_buyers": float(p[:k].sum()),
                   "expected_profit": float(gain[:k].sum()), "threshold": contact_cost / conversion_value,
                   "threshold_contacts": int(keep.sum()), "threshold_profit": float(gain[keep].sum()),
                   "profit_contact_all": float(gain.sum())}
    return out


def base_budget(scored: pd.DataFrame, target: str, budgets=(0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)) -> pd.DataFrame:
    """What contacting the top share of the whole scored base reaches, one row per budget
    share: ``budget_share``, ``contacts`` and ``expected_buyers`` (sum of calibrated
    probabilities) of all scored customers (a log-built run: at the latest cutoff),
    ``share_of_expected_buyers``, and as measured on the held-out test rows ``test_precision``
    (buyers among the top share of test rows) and ``test_recall``
    (:func:`core.models.evaluation.budget_table`)."""
    p = _base_scores(scored)
    test = _test_rows(scored)
    measured = (evaluation.budget_table(test[target].to_numpy(int), test["propensity"].to_numpy(float), budgets)
                if len(test) and test[target].nunique() == 2 else None)
    rows = []
    for i, b in enumerate(budgets):
        k = max(1, int(round(b * len(p))))
        rows.append({"budget_share": b, "contacts": k, "expected_buyers": float(p[:k].sum()),
                     "share_of_expected_buyers": float(p[:k].sum() / p.sum()) if p.sum() > 0 else 0.0,
                     "test_precision": None if measured is None else float(measured["precision"].iloc[i]),
                     "test_recall": None if measured is None else float(measured["recall"].iloc[i])})
    return pd.DataFrame(rows)


def group_importance(importance: pd.DataFrame) -> pd.DataFrame:
    """Mean |SHAP| summed by feature group of a run's ``importance`` table
    (:func:`core.models.explain.group_importance`)."""
    return explain.group_importance(importance)


def segment_only_scores(scored: pd.DataFrame, target: str) -> dict:
    """Segment membership alone against the classifier on the same test rows of a run's
    scored table (:func:`core.activation.playbook.segment_only_scores`); ``{"error": why}``
    when the run cannot measure it."""
    try:
        return playbook.segment_only_scores(scored, target)
    except ValueError as exc:
        return {"error": str(exc)}


def filter_control(features: pd.DataFrame, spec: DatasetSpec, column: str) -> dict:
    """How a cohort filter on ``column`` of a run's ``features`` table is offered
    (:func:`core.activation.cohorts.filter_control`)."""
    return cohorts.filter_control(features, spec, column)


def banded_matrix(matrix: pd.DataFrame, bands: str, relative_lift: float, segment_ids: list[int]) -> pd.DataFrame:
    """The propensity-by-segment matrix (a run's ``matrix`` table, names as shown) restricted
    to ``segment_ids``, by ``bands`` (``deciles`` or ``low/medium/high``) with the holdout a
    ``relative_lift`` needs, observed rates blanked below
    :data:`core.activation.playbook.MIN_TEST_CUSTOMERS` test customers."""
    m = matrix[matrix["segment_id"].isin(segment_ids)]
    return playbook.observed_cells(playbook.banded_matrix(m, bands, relative_lift))


def this_week(matrix: pd.DataFrame, scored: pd.DataFrame, top: int = 5, relative_lift: float = 0.10) -> dict:
    """What the start page shows: ``actions`` (the ``top`` cells of the banded matrix worth a
    campaign, best first: :func:`core.activation.week.week_actions`, each with the holdout per
    group that detects ``relative_lift``), ``leave_alone`` (:func:`core.activation.week.leave_alone`),
    ``audiences`` (contacts that reach 50%, 70% and 90% of the expected buyers:
    :func:`core.activation.week.audience_sizes`), ``customers`` and ``expected_buyers`` of the
    whole scored base (a log-built run: its customers as of the latest cutoff). ``matrix`` is
    the run's matrix table (names as shown), ``scored`` its scored table."""
    banded = playbook.banded_matrix(matrix, "low/medium/high", relative_lift)
    p = _base_scores(scored)
    return {"actions": week.week_actions(banded, top), "leave_alone": week.leave_alone(banded),
            "audiences": week.audience_sizes(p), "customers": len(p), "expected_buyers": float(p.sum())}


def transition_summary(transitions: list[dict] | None, previous_names: dict[int, str] | None = None,
                       names: dict[int, str] | None = None):
    """The segment transitions of a retrain in one summary
    (:func:`core.models.segmentation.continuity.transition_summary`)."""
    return continuity.transition_summary(transitions, previous_names, names)


def run_history(settings: Settings) -> pd.DataFrame:
    """One row per run of the runs folder, newest first (:func:`core.runs.store.run_history`)."""
    return store.run_history(settings.artifacts_dir)


def champion_history(settings: Settings) -> list[dict]:
    """Every change of the current run, oldest first, and whether a roll back is possible
    (:func:`core.runs.champions.champion_history`)."""
    return champions.champion_history(settings.artifacts_dir)


def can_roll_back(settings: Settings, dataset: str | None = None) -> bool:
    """Whether ``dataset`` (default: the default data set) has an earlier champion to roll back to."""
    return len(champions.champion_stack(settings.artifacts_dir, dataset)) >= 2


def monitoring_reports(settings: Settings, run_id: str, kind: str) -> list[Path]:
    """The run's saved reports of ``kind`` (``drift``, ``backtest``, ``retrain``,
    ``readout``), newest first."""
    return reports.monitoring_reports(settings.artifacts_dir, run_id, kind)


def read_report(path: str | Path) -> dict:
    """A saved monitoring report. Raises DataError when it cannot be read as JSON."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read the report ({exc})") from None


def latest_report(settings: Settings, run_id: str, kind: str) -> dict | None:
    """The run's newest saved report of ``kind``, or None."""
    saved = monitoring_reports(settings, run_id, kind)
    return read_report(saved[0]) if saved else None


def retrain_report(settings: Settings, run_id: str) -> RetrainReport | None:
    """The retrain report of a challenger run (how it compared with its champion), or None.
    Raises DataError for a report of another version."""
    saved = monitoring_reports(settings, run_id, "retrain")
    return RetrainReport.from_json(saved[0]) if saved else None


def table_specs(folder: str | Path = "configs") -> dict[str, str | None]:
    """``{label: spec path or None}``: the built-in spec and every table spec TOML in
    ``folder`` (settings files, log specs and broken specs are not offered)."""
    out: dict[str, str | None] = {"built-in ShopSphere spec": None}
    for p in sorted(Path(folder).glob("*.toml")):
        try:
            out[f"{resolve_spec(p).name} ({p})"] = str(p)
        except DataError:
            continue
    return out


def log_specs(folder: str | Path = "configs") -> dict[str, str]:
    """``{label: path}`` of every log spec TOML (``kind = "log"``) in ``folder``."""
    out = {}
    for p in sorted(Path(folder).glob("*.toml")):
        if is_log_spec(p):
            try:
                out[f"{load_log_spec(p).name} ({p})"] = str(p)
            except DataError:  # a broken log spec is not offered
                continue
    return out


def read_upload(content: bytes, name: str, spec: DatasetSpec | None = None) -> pd.DataFrame:
    """A table from an upload's bytes (:func:`core.inputs.tables.read_bytes`: the one parser,
    for files and uploads). Raises DataError naming ``name``."""
    return tables.read_bytes(content, name, spec)
