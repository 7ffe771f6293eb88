"""One typed settings object: paths, the seed, model and segmentation parameters.

Built once at the edge (CLI, app) and passed down; core code never reads the environment.
Defaults live in :class:`Settings`; ``configs/default.toml`` may override any field, and a
CLI flag overrides the file.
"""
from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import DataError


@dataclass(frozen=True)
class SegmentationSettings:
    """Segmentation parameters: the method (``auto``, the default, or ``umap+hdbscan``,
    ``kmeans``, ``gmm``) and UMAP + HDBSCAN's settings.

    ``sample_size`` customers are fitted (UMAP to ``n_components`` dimensions, then
    HDBSCAN); every customer is then assigned by a ``knn_k``-nearest-neighbour vote in the
    scaled feature space against ``reference_size`` fitted customers.

    ``method``: the clusterer (:func:`core.models.segmentation.choose_method`); ``auto`` fits all
    three and keeps the one :func:`core.models.segmentation.methods.choose_candidate` prefers
    (stable and readable, then the finest, then the best separated). Parameter search
    (:class:`core.models.segmentation.clusterers.HDBSCANSearch`): HDBSCAN's
    ``min_cluster_size`` (as shares ``min_cluster_shares`` of the fitted sample) x
    ``min_samples_grid`` x cluster selection (excess of mass, leaf) on one UMAP embedding
    (McInnes, Healy & Astels 2017, *hdbscan: Hierarchical density based clustering*, JOSS
    2(11)). A candidate is actionable with ``min_segments``..``max_segments`` clusters, each
    at least ``min_segment_share`` of the sample, and HDBSCAN calls at most ``max_noise_share``
    of the sample noise (beyond that most segments would be guesses); among those whose bootstrap stability
    (ARI) reaches ``min_stability`` and whose depth-4 rules reproduce at least
    ``min_rule_fidelity`` of customers, the one with the most segments wins (then DBCV).
    With ``method = "auto"``, a method counts as stable only when, besides its bootstrap
    ARI, the nearest-neighbour assignment (how every customer gets a segment) agrees with
    its fitted segments on at least ``min_assignment_agreement`` of the held-out sample
    customers (:func:`core.models.segmentation.methods.choose_candidate`).

    Quality figures: bootstrap ARI over ``stability_resamples`` refits on subsamples of
    ``stability_size`` customers of the fitted sample; silhouettes on ``quality_sample``
    customers. ``match_min_jaccard``: overlap a new segment needs with a previous run's
    segment to keep its id (:mod:`core.models.segmentation.continuity`).
    ``n_neighbors``/``min_dist`` are UMAP's (McInnes, Healy & Melville 2018, arXiv:1802.03426);
    ``min_dist=0`` packs clusters tightly, as the UMAP docs advise for clustering.
    Below ``min_hopkins`` (Hopkins statistic of the scaled sample, see
    :func:`core.models.segmentation.hopkins`: about 0.50 for independent columns; values measured
    on real tables in ``docs/performance.md``) the table is treated as having no cluster structure.
    """

    method: str = "auto"
    sample_size: int = 50_000
    n_components: int = 5
    n_neighbors: int = 15
    min_dist: float = 0.0
    min_cluster_shares: tuple[float, ...] = (0.02, 0.03, 0.04, 0.06)
    min_samples_grid: tuple[int, ...] = (10, 25, 50)
    min_segment_share: float = 0.02
    max_noise_share: float = 0.5
    min_stability: float = 0.8
    min_rule_fidelity: float = 0.85
    min_assignment_agreement: float = 0.9
    min_hopkins: float = 0.55
    min_segments: int = 5
    max_segments: int = 10
    fallback_k: tuple[int, ...] = (5, 6, 7, 8, 9, 10)
    knn_k: int = 15
    reference_size: int = 6_000
    projection_size: int = 20_000
    stability_resamples: int = 5
    stability_size: int = 20_000
    quality_sample: int = 10_000
    match_min_jaccard: float = 0.5


def _whole(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(v) -> bool:
    """A finite real number (not a flag, not nan or infinity)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_keys(table: str, obj, whole: dict, in_range: dict) -> None:
    """Raise :class:`DataError` naming the first key of ``[table]`` that is not a whole number
    >= its minimum (``whole``: key -> minimum) or a finite number in its range (``in_range``:
    key -> (low, high), inclusive)."""
    for key, lo in whole.items():
        v = getattr(obj, key)
        if not _whole(v) or v < lo:
            raise DataError(f"settings: [{table}] {key} must be a whole number >= {lo}, got {v!r}")
    for key, (lo, hi) in in_range.items():
        v = getattr(obj, key)
        if not _number(v) or not lo <= v <= hi:
            raise DataError(f"settings: [{table}] {key} must be a number from {lo} to {hi}, got {v!r}")


def _check_segmentation(s: SegmentationSettings) -> None:
    """Raise :class:`DataError` naming the first ``[segmentation]`` key out of range."""
    whole_min = {"sample_size": 50, "n_components": 2, "n_neighbors": 2, "reference_size": 10, "knn_k": 1,
                 "projection_size": 10, "stability_resamples": 0, "stability_size": 50, "quality_sample": 50,
                 "min_segments": 2, "max_segments": 2}
    in_range = {"min_dist": (0, 1), "min_hopkins": (0, 1), "min_segment_share": (0, 0.49),
                "max_noise_share": (0.01, 1), "min_stability": (0, 1), "min_rule_fidelity": (0, 1),
                "min_assignment_agreement": (0, 1),
                "match_min_jaccard": (0.01, 1)}
    _check_keys("segmentation", s, whole_min, in_range)
    lists = {"min_cluster_shares": (lambda v: _number(v) and 0 < v < 0.5, "numbers above 0 and below 0.5"),
             "min_samples_grid": (lambda v: _whole(v) and v >= 1, "whole numbers >= 1"),
             "fallback_k": (lambda v: _whole(v) and 2 <= v <= 50, "whole numbers from 2 to 50")}
    for key, (ok, what) in lists.items():
        v = getattr(s, key)
        if not isinstance(v, (tuple, list)) or not v or not all(ok(x) for x in v):
            raise DataError(f"settings: [segmentation] {key} must be a non-empty list of {what}, got {v!r}")
    if s.max_segments > 50:
        raise DataError(f"settings: [segmentation] max_segments must be at most 50, got {s.max_segments}")
    if s.knn_k > s.reference_size:
        raise DataError(f"settings: [segmentation] knn_k ({s.knn_k}) must not exceed reference_size ({s.reference_size})")


@dataclass(frozen=True)
class PropensitySettings:
    """Split shares, tuning, calibration and the business figures of the budget view.

    XGBoost (Chen & Guestrin 2016): at most ``n_estimators`` rounds with early stopping
    after ``early_stopping_rounds`` rounds without a better validation log loss; Optuna
    tunes depth (2..``tune_max_depth``), learning rate, ``min_child_weight``, row and
    column subsampling and L2 for ``tune_trials`` trials (a table of fewer than
    ``tune_full_rows`` train + validation rows gets proportionally fewer, at least
    ``tune_min_trials``); the trials fit on at most ``tune_max_rows`` train rows (a seeded,
    stratified sample; 0: all), and the chosen one is refitted on every train row with its
    own early stopping (:func:`core.models.propensity.tune_rows`). ``tune_seconds`` is a cap for a machine far slower than expected,
    not a budget: when it ends the search the trial count, and so the model, depends on
    the machine's speed, and the run says so (``tuning_stopped_by_time``); ``max_depth``, ``learning_rate``, ``min_child_weight``, ``subsample`` and
    ``colsample_bytree`` are its first trial; of the trials within ``tune_tolerance``
    (relative) of the best validation log loss, the smallest model wins. With fewer than ``cv_below_val_positives``
    validation positives, ``cv_folds``-fold cross-validation replaces the validation set.
    Isotonic calibration is tried from ``isotonic_min_positives`` validation positives.
    Test-metric intervals use ``bootstrap_resamples`` resamples. The profit threshold uses
    ``contact_cost`` and ``conversion_value`` (same currency). The leakage guard stops on a
    single feature with ROC-AUC above ``leakage_max_auc``. Logistic regression: L2, ``C``
    as in scikit-learn. SHAP importance is computed on ``shap_sample`` rows.
    """

    val_share: float = 0.15
    test_share: float = 0.15
    n_estimators: int = 2000
    learning_rate: float = 0.1
    max_depth: int = 2
    min_child_weight: float = 5.0
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    early_stopping_rounds: int = 50
    tune_trials: int = 20
    tune_full_rows: int = 50_000
    tune_min_trials: int = 10
    tune_max_rows: int = 50_000
    tune_seconds: float = 900.0
    tune_max_depth: int = 4
    tune_tolerance: float = 0.001
    cv_folds: int = 5
    cv_below_val_positives: int = 500
    isotonic_min_positives: int = 1000
    bootstrap_resamples: int = 1000
    contact_cost: float = 1.0
    conversion_value: float = 20.0
    leakage_max_auc: float = 0.95
    logistic_C: float = 1.0
    shap_sample: int = 5_000


def _check_propensity(p) -> None:
    """Raise :class:`DataError` naming the first ``[propensity]`` key out of range."""
    whole = {"n_estimators": 1, "max_depth": 1, "tune_trials": 1, "tune_full_rows": 1, "tune_min_trials": 1, "tune_max_rows": 0, "tune_max_depth": 2, "cv_folds": 2,
             "cv_below_val_positives": 0, "isotonic_min_positives": 1, "bootstrap_resamples": 10,
             "early_stopping_rounds": 1, "shap_sample": 10}
    in_range = {"val_share": (0.01, 0.5), "test_share": (0.01, 0.5), "learning_rate": (1e-4, 1),
                "min_child_weight": (0, 1e6), "subsample": (0.05, 1), "colsample_bytree": (0.05, 1),
                "tune_tolerance": (0, 0.1), "leakage_max_auc": (0.5001, 1), "logistic_C": (1e-6, 1e6)}
    _check_keys("propensity", p, whole, in_range)
    for key in ("tune_seconds", "contact_cost", "conversion_value"):
        v = getattr(p, key)
        if not _number(v) or v <= 0:
            raise DataError(f"settings: [propensity] {key} must be a finite number above 0, got {v!r}")
    if p.val_share + p.test_share >= 0.9:
        raise DataError("settings: [propensity] val_share and test_share must sum below 0.9")


@dataclass(frozen=True)
class Settings:
    """Everything a run depends on besides the data.

    Parameters
    ----------
    seed : int
        The one seed: every random step (split, sampling, UMAP, XGBoost) derives from it.
    artifacts_dir : Path
        Where runs are written (``runs/<id>``) and the current run is recorded.
    default_data : Path
        Where ``generate`` writes the default ShopSphere table.
    n_jobs : int
        Threads for XGBoost and nearest neighbours.
    upload_max_mb : int
        Largest file the app accepts from an upload, to score or to train on (MB; the
        Streamlit server caps uploads at ``server.maxUploadSize``, 200 in
        ``.streamlit/config.toml``); bigger files go through the CLI.
    database_url : str
        Where scores and cohorts are written for the marketing tools
        (:mod:`core.activation.database`): any SQLAlchemy URL (``postgresql+psycopg://user@host/db``);
        empty (the default): the DuckDB file ``<artifacts_dir>/activation.duckdb``.
    write_database : bool
        Write every scoring (CLI ``score``, a new run's training table, the app's scoring
        jobs) to that database (default True); cohorts are written when saved.
    keep_runs : int
        Runs kept after each training: the newest ``keep_runs``, plus the current run and
        the champions a rollback can return to (never deleted); 0 keeps every run.
    auto_promote : bool
        ``retrain`` promotes the challenger by itself when it is not worse than the
        champion beyond ``promote_tolerance``; False (default): it waits for approval.
    promote_tolerance : float
        Largest drop of ROC-AUC and of PR-AUC (on the challenger's test rows), and largest
        rise of ECE, that still counts as "not worse" (default 0.005).
    currency : str
        The currency of the money columns, as shown before money figures ("$", "€", "GBP ";
        default "$"); the app and the report format spend and revenue with it
        (:func:`core.formats.money`).
    """

    seed: int = 42
    artifacts_dir: Path = Path("artifacts")
    default_data: Path = Path("data/shopsphere.parquet")
    default_rows: int = 240_000
    n_jobs: int = 2
    upload_max_mb: int = 200
    keep_runs: int = 10
    database_url: str = ""
    write_database: bool = True
    auto_promote: bool = False
    promote_tolerance: float = 0.005
    currency: str = "$"
    segmentation: SegmentationSettings = field(default_factory=SegmentationSettings)
    propensity: PropensitySettings = field(default_factory=PropensitySettings)

    def __post_init__(self) -> None:
        if not isinstance(self.seed, int) or not 0 <= self.seed < 2**32 - 2:
            raise DataError(f"settings: seed must be a whole number from 0 to 4294967293, got {self.seed!r}")
        if not isinstance(self.n_jobs, int) or self.n_jobs < 1:
            raise DataError(f"settings: n_jobs must be a whole number >= 1, got {self.n_jobs!r}")
        if not isinstance(self.keep_runs, int) or self.keep_runs < 0:
            raise DataError(f"settings: keep_runs must be a whole number >= 0 (0 keeps every run), got {self.keep_runs!r}")
        if not isinstance(self.database_url, str):
            raise DataError(f"settings: database_url must be text (a SQLAlchemy URL, or empty), got {self.database_url!r}")
        if not isinstance(self.write_database, bool):
            raise DataError(f"settings: write_database must be true or false, got {self.write_database!r}")
        if not isinstance(self.auto_promote, bool):
            raise DataError(f"settings: auto_promote must be true or false, got {self.auto_promote!r}")
        if not isinstance(self.promote_tolerance, (int, float)) or not 0 <= self.promote_tolerance < 0.5:
            raise DataError(f"settings: promote_tolerance must be a number from 0 to 0.5, got {self.promote_tolerance!r}")
        if not isinstance(self.currency, str) or len(self.currency) > 8:
            raise DataError(f"settings: currency must be a short text such as \"$\" or \"EUR \", got {self.currency!r}")
        s, p = self.segmentation, self.propensity
        _check_segmentation(s)
        if s.method not in ("auto", "umap+hdbscan", "kmeans", "gmm"):
            raise DataError(f"settings: segmentation method must be auto, umap+hdbscan, kmeans or gmm, not {s.method!r}")
        if not 2 <= s.min_segments <= s.max_segments:
            raise DataError(f"settings: need 2 <= min_segments <= max_segments, got {s.min_segments}..{s.max_segments}")
        _check_propensity(p)

    def to_dict(self) -> dict:
        """JSON-safe dict (paths as text) for the run manifest."""
        d = dataclasses.asdict(self)
        d["artifacts_dir"] = str(self.artifacts_dir)
        d["default_data"] = str(self.default_data)
        return d

    def replace(self, **changes) -> "Settings":
        """A copy with top-level fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)


def read_toml(path: str | Path, what: str) -> dict:
    """The TOML file at ``path`` as a dict (Python's ``tomllib``): the one reader of the
    product's TOML files (settings, table specs, log specs). ``what`` names the file's kind in
    messages ("settings file", "spec file", "log spec").

    Raises DataError ("<what> <path>: not found", or "not valid TOML (why)")."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{what} {p}: not found")
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{what} {p}: not valid TOML ({exc})") from None


def load_settings(path: str | Path | None = None, **overrides) -> Settings:
    """Settings from defaults, an optional TOML file, then keyword overrides (None = keep).

    The TOML has top-level keys of :class:`Settings` and ``[segmentation]`` /
    ``[propensity]`` tables. Raises :class:`DataError` for a missing or bad file, an
    unknown key, or a value out of range, naming the file, or the override that is bad
    ("seed as given: ...").
    """
    raw: dict = read_toml(path, "settings file") if path is not None else {}
    given = {k: v for k, v in overrides.items() if v is not None}
    base = settings_from_dict(raw, f"settings file {path}" if path is not None else "settings")
    if not given:
        return base
    # a bad value given here (a CLI flag, an environment variable) is named as such, not as the file's
    for key, value in given.items():
        raw[key] = value
        base = settings_from_dict(raw, f"{key} as given")
    return base


def settings_from_dict(raw: dict, where: str = "settings") -> Settings:
    """Settings from a dict shaped like the TOML file (or :meth:`Settings.to_dict`: what a
    background job keeps, :mod:`core.ops.jobs`). Raises DataError, naming ``where``, as
    :func:`load_settings` does."""
    raw = dict(raw)
    seg = raw.pop("segmentation", {})
    prop = raw.pop("propensity", {})
    if not isinstance(seg, dict) or not isinstance(prop, dict):
        raise DataError(f"{where}: [segmentation] and [propensity] must be tables")
    for table, cls, given in (("", Settings, raw), ("[segmentation] ", SegmentationSettings, seg),
                              ("[propensity] ", PropensitySettings, prop)):
        unknown = sorted(set(given) - {f.name for f in dataclasses.fields(cls)} - {"segmentation", "propensity"})
        if unknown:
            raise DataError(f"{where}: unknown key {table}'{unknown[0]}'")
    try:
        seg_s = SegmentationSettings(**{k: tuple(v) if isinstance(v, list) else v for k, v in seg.items()})
        prop_s = PropensitySettings(**prop)
        for key in ("artifacts_dir", "default_data"):
            if key in raw:
                raw[key] = Path(raw[key])
        return Settings(segmentation=seg_s, propensity=prop_s, **raw)
    except DataError as exc:
        raise DataError(f"{where}: {str(exc).removeprefix('settings: ')}") from None
    except TypeError as exc:
        raise DataError(f"{where}: {exc}") from None
