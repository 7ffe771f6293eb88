"""Typed results at the registry boundary: what a run's JSON files hold.

Every JSON file of a run is one of these models (pydantic v2, ``extra="forbid"``): the
training steps build them, :func:`core.runs.store.save_run` writes them with
:meth:`Record.to_json`, and the pages, the CLI and the report read attributes of the
models :class:`core.runs.store.Run` loads. A misspelt, missing or mistyped key fails at load
with one line naming the file, never as a blank on a page.

Tables (decile tables, calibration bins, trial tables, transitions) stay lists of records:
they are read as DataFrames, column by column.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from core.errors import DataError

#: Version of the run layout this code writes and reads. A run of another version is
#: refused in one line saying how to retrain (:func:`core.runs.store.load_run`).
RUN_FORMAT = 3  # 3: no pickles (skops, .npz and JSON in place of baseline.joblib and segmenter.joblib)

Table = list[dict[str, Any]]


class JSONEncoder(json.JSONEncoder):
    """JSON for numpy scalars and arrays (non-finite floats as null) and paths."""

    def default(self, o):

        if isinstance(o, np.integer):
            return int(o)
        if isinstance(o, np.floating):
            return None if not np.isfinite(o) else float(o)
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, Path):
            return str(o)
        return super().default(o)


def jsonable(obj):
    """``obj`` as it reads back from JSON (numpy types converted by :class:`JSONEncoder`):
    what the typed results are built from, so a run reads back exactly what it wrote."""
    return json.loads(json.dumps(obj, cls=JSONEncoder, allow_nan=False))


class Record(BaseModel):
    """Base of the typed results: frozen, no unknown keys, JSON in and out."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def from_json(cls, path: Path):
        """The model in the JSON file ``path``.

        Raises
        ------
        DataError
            The file cannot be read, is not JSON, or does not hold this model (one line:
            the file, the first wrong key and why, and how to retrain).
        """
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(f"{path}: cannot read it as JSON ({exc})") from None
        return cls.from_dict(raw, str(path))

    @classmethod
    def from_dict(cls, raw, where: str = "result"):
        """The model from a JSON-like dict (numpy values allowed, see :func:`jsonable`);
        raises DataError as :meth:`from_json` does."""
        try:
            return cls.model_validate(jsonable(raw))
        except ValidationError as exc:
            err = exc.errors()[0]
            key = ".".join(str(p) for p in err["loc"]) or "(top level)"
            raise DataError(f"{where}: not a {cls.__name__} of this version ({key}: {err['msg'].lower()}); "
                            "it was written by another version of the product: retrain (python -m core train)") from None

    def to_json(self) -> dict:
        """JSON-safe dict (keys in field order; optional fields never set are left out)."""
        return self.model_dump(mode="json", exclude_unset=True)


class ScorerMetrics(Record):
    """One scorer on the test rows (:func:`core.models.evaluation.classification_metrics` and
    :func:`core.models.evaluation.probability_metrics`): ROC-AUC, PR-AUC (average precision), their
    95% bootstrap intervals, top-decile lift, base rate, rows, and for probabilities log
    loss, Brier score and ECE (None for a ranking score such as recency)."""

    roc_auc: float
    pr_auc: float
    lift_top_decile: float
    base_rate: float
    rows: int
    roc_auc_ci: tuple[float, float]
    pr_auc_ci: tuple[float, float]
    log_loss: float | None
    brier: float | None
    ece: float | None


class Calibration(Record):
    """The calibration choice (``method``, ``why``), reliability tables before and after
    (10 equal-width bins) and ECE before and after."""

    method: str
    why: str
    before: Table
    after: Table
    ece_before: float | None
    ece_after: float | None


class Profit(Record):
    """The profit-maximising threshold (cost / value) and its confusion matrix on the test
    rows (:func:`core.models.evaluation.profit_at_threshold`); money in the table's currency."""

    threshold: float
    contact_cost: float
    conversion_value: float
    contacts: int
    contact_share: float
    expected_profit: float
    realised_profit: float
    profit_contact_all: float
    tp: int
    fp: int
    fn: int
    tn: int
    precision: float
    recall: float


class Grade(Record):
    """The quality grade (Excellent / Good / Fair / Poor), why, and its bands for this base rate."""

    grade: str
    explanation: str
    bands: Table


class ReasonAgreement(Record):
    """Agreement of the reasons' SHAP values with XGBoost's own TreeSHAP on seeded rows."""

    rows: int
    top3_agreement: float
    top1_agreement: float
    max_abs_diff: float
    method: str


class PropensityModelInfo(Record):
    """How the model was trained: trees, parameters, validation, tuning trials and time,
    the train rows the trials fitted on (``tune_rows``; None: all), class weights,
    calibration and row counts (:func:`core.models.propensity.fit`)."""

    n_trees: int
    params: dict[str, Any]
    validation: str
    cv_folds: int | None
    tuning_seconds: float
    trials: Table
    tuning_stopped_by_time: bool = False
    tune_rows: int | None = None
    scale_pos_weight: dict[str, Any]
    calibration: dict[str, Any]
    rows: dict[str, int]


class SegmentationInfo(Record):
    """The fitted segmentation (:attr:`core.models.segmentation.Segmenter.fit_info_`) and the run's
    figures on the whole table: method and fallback reason, sample, Hopkins statistic, the
    chosen HDBSCAN candidate and the candidate table, noise share, sizes, assignment
    agreement, inputs, quality figures (silhouettes, DBCV, bootstrap ARI; ``figure_notes``
    says why one is None), with ``method = "auto"`` the method comparison (one row per
    method, ``chosen`` marking the one kept) and ``choice_reason``, the surrogate
    rules' fidelity and depth, and on generated data the ARI against the true personas."""

    method: str
    fallback_reason: str | None
    sample_size: int
    n_segments: int
    hopkins: float
    min_cluster_size: int | None
    min_samples: int | None
    cluster_selection: str | None
    hdbscan_candidates: Table
    noise_share_in_sample: float
    sample_segment_sizes: list[int]
    reference_size: int
    assignment_agreement: float | None
    inputs: list[str]
    empty_inputs_left_out: list[str]
    silhouette_scaled: float | None
    silhouette_embedding: float | None
    dbcv: float | None
    bootstrap_ari: float | None
    bootstrap_aris: list[float]
    stability_size: int | None
    figure_notes: dict[str, str] = {}
    configured_method: str | None = None
    method_comparison: Table = []
    choice_reason: str | None = None
    #: clusters below the minimum segment size merged into their nearest segment, a line each
    merged_clusters: list[str] = []
    ari_vs_true_persona: float | None = None
    reassigned_share: float
    surrogate_fidelity: float
    surrogate_depth: int


class RunMetrics(Record):
    """``metrics.json``: every scorer on the test rows (recency only when the spec names a
    ``recency_column``, the oracle only on generated data), the comparison table,
    calibration, decile, capture and budget tables, profit, grade, curves, the leakage
    guard's single-feature ROC-AUCs, reason agreement, unseen categories, per-segment
    figures, the segmentation and how the model was trained."""

    recency: ScorerMetrics | None = None
    logistic: ScorerMetrics
    bgnbd: ScorerMetrics | None = None
    xgboost_uncalibrated: ScorerMetrics
    xgboost: ScorerMetrics
    oracle: ScorerMetrics | None = None
    comparison: Table
    calibration: Calibration
    deciles_xgboost: Table
    capture: Table
    budget: Table
    profit: Profit
    grade: Grade
    curves_xgboost: dict[str, dict[str, list[float]]]
    curves_logistic: dict[str, dict[str, list[float]]]
    leakage_single_feature_auc: dict[str, float]
    reason_agreement: ReasonAgreement
    paired_differences: dict[str, dict[str, list[float]]] | None = None
    per_snapshot: Table | None = None
    unseen_categories_train: dict[str, int]
    segments_propensity: Table
    segmentation: SegmentationInfo
    propensity_model: PropensityModelInfo


class Continuity(Record):
    """``continuity.json``: the matching of this run's segments to the previous run's
    (:mod:`core.models.segmentation.continuity`): the previous run (None: not compared, ``reason`` says why),
    each segment's status (``first run``, ``matched``, ``new``), retired segments, matched
    pairs with their Jaccard index, the next fresh id, the previous run's names, and the
    transition matrix (long form) when compared."""

    previous_run: str | None
    reason: str
    status: dict[int, str]
    retired: Table
    pairs: Table
    next_id: int
    previous_names: dict[int, str]
    transitions: Table | None = None


class Manifest(Record):
    """``manifest.json``: the run's id, time (UTC, ISO 8601), data set, data path and hash,
    rows, seed, settings, spec, library versions, timings (seconds per step), number of
    segments and segmentation method, the run format, and for a run built from a
    transaction log its ``source`` (log path, cutoffs, horizon, label windows, snapshots,
    the BG/NBD and Gamma-Gamma fits per cutoff, cleaning notes)."""

    run_format: int
    run_id: str
    created_at: str
    dataset: str
    data_path: str
    data_hash: str
    rows: int
    seed: int
    settings: dict[str, Any]
    spec: dict[str, Any]
    versions: dict[str, str | None]
    timings_s: dict[str, float]
    n_segments: int
    segmentation_method: str
    source: dict[str, Any] | None = None

    @property
    def customers(self) -> int:
        """The customers of the run: its rows, or for a run built from a transaction log the
        customers of its latest snapshot (its rows are one per customer and cutoff)."""
        snaps = (self.source or {}).get("snapshots") or []
        try:
            return int(max(snaps, key=lambda s: str(s["cutoff"]))["customers"]) if snaps else int(self.rows)
        except (KeyError, TypeError, ValueError):
            return int(self.rows)


class ScoringInfo(Record):
    """``scoring.json``: what scoring needs besides the models: feature names, training
    categories, decile cut points (9 training-score quantiles), the best iteration, the
    calibrator, the spec's hash, the reference date, the automatic segment names and the
    columns that were empty at training."""

    feature_names: list[str]
    categories: dict[str, list[str]]
    decile_cuts: list[float]
    best_iteration: int
    calibrator: dict[str, Any]
    spec_hash: str
    reference_date: str | None
    segment_names: dict[int, str]
    empty_at_training: list[str]


class SegmenterState(Record):
    """``segmenter.json``: what assigning customers needs of the fitted segmenter besides its
    preprocessing (``segmenter_preprocessor.skops``) and its voters' arrays
    (``segmenter_reference.npz``): the input columns, the number of segments and their
    public ids, the method and why it is a fallback, the vote's ``knn_k``, and the seed and
    settings it was fitted with (:meth:`core.models.segmentation.Segmenter.saved_state`)."""

    columns: list[str]
    n_segments: int
    segment_ids: list[int]
    method: str
    fallback_reason: str | None
    knn_k: int
    reference_size: int
    random_state: int
    settings: dict[str, Any]


class SegmentProfile(Record):
    """One segment's profile (:func:`core.models.segmentation.profiling.profile_segments`): id, size and share,
    purchase rate (None without a target), average spend (None without a value column),
    the most distinctive features, every numeric feature against the population,
    categorical mixes, the persona name (carried from the previous run when matched;
    ``computed_name`` is today's), status, rules with their fidelity, and a description."""

    segment_id: int
    size: int
    share: float
    purchase_rate: float | None
    average_spend: float | None
    top_features: Table
    features: dict[str, dict[str, float | None]]
    categorical: dict[str, dict[str, list[float]]]
    name: str
    status: str
    computed_name: str
    rules: Table
    rule_fidelity: float
    description: str


class Profiles(Record):
    """The run's segment profiles, in increasing segment id (``profiles.json`` holds the list)."""

    segments: list[SegmentProfile]

    @classmethod
    def from_dict(cls, raw, where: str = "result"):
        """From the JSON list of profiles."""
        return super().from_dict({"segments": raw}, where)

    def to_json(self) -> list:
        """The JSON list of profiles."""
        return [p.to_json() for p in self.segments]


class Quality(Record):
    """``quality.json``: the data-quality summary of :func:`core.inputs.validation.validate`."""

    rows: int
    inf_to_missing: dict[str, int]
    out_of_range: dict[str, dict[str, Any]]
    missing_share: dict[str, float]
    duplicate_feature_rows: int
    extra_columns: list[str]
    reference_date: str | None
    #: values read as numbers from text with a currency sign or thousands separators, per column
    text_numbers: dict[str, int] = {}
    #: the table had no id column: the 1-based row number is the id
    id_from_row: bool = False
    #: the text encoding the file was read with (None: not a text file)
    encoding: str | None = None
    #: rows left out for an empty id: ``rows``, ``first`` (its place in the file), ``column``
    rows_without_id: dict[str, Any] | None = None


class SegmentContinuitySummary(Record):
    """Continuity as the retrain report gives it: the previous run, matched, new and retired
    counts, the share of customers keeping their segment (None without transitions), and the
    transition matrix (long form)."""

    previous_run: str | None
    matched: int
    new: int
    retired: int
    share_keeping_segment: float | None
    transitions: Table


class RetrainReport(Record):
    """A monthly retrain (:func:`core.pipeline.champion.retrain`): champion and challenger ids, the
    challenger's test rows, both models' figures on them, the champion on the whole new
    table, segment continuity, the checks, tolerance, ``auto_promote``, the decision
    (``promoted``, ``waiting for approval``, ``kept champion``), why, when, and where the
    report was saved."""

    champion: str
    challenger: str
    test_rows: int
    metrics: dict[str, dict[str, float]]
    champion_on_new_data: dict[str, float | int]
    continuity: SegmentContinuitySummary
    not_worse: dict[str, bool]
    tolerance: float
    auto_promote: bool
    decision: str
    why: str
    created_at: str
    report_path: str | None = None
