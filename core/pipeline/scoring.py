"""Scoring with a saved run: a customer's segment, calibrated propensity, decile and reasons.

:class:`ScoringModel` holds what scoring needs from a run, loaded once; the CLI, the app,
the retrain and drift monitoring score through it, in chunks, so the result does not
depend on the batch (validation is per row, segments and scores are batch-independent).
Scoring a Parquet data set on a Dask cluster is :mod:`core.pipeline.dask_scoring`.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from core.activation import cohorts
from core.errors import DataError
from core.inputs import validation
from core.inputs.spec import DatasetSpec, spec_hash
from core.models import evaluation, explain, propensity
from core.runs import store

log = logging.getLogger(__name__)

#: Column names of a scored file that differ from the scored table's (the export contract).
OUTPUT_NAMES = {"segment_name": "persona"}
#: The evaluation column of a log-built table with each customer's expected spend per
#: purchase (Gamma-Gamma, :mod:`core.models.btyd`); scoring turns it into ``expected_revenue``.
EXPECTED_SPEND = "_expected_spend"


def scored_frame(ids: pd.Series, assigned: pd.DataFrame, names: dict, p: np.ndarray,
                 decile_cuts: np.ndarray, reasons: pd.DataFrame | None = None,
                 expected_spend: np.ndarray | None = None) -> pd.DataFrame:
    """The scored table, one row per customer (n rows): ``customer_id``, ``segment_id``,
    ``segment_name``, ``segment_confidence``, ``segment_reassigned``, ``propensity`` (0..1,
    calibrated), ``propensity_decile`` (1 = top 10% of the training scores), when
    ``reasons`` is given ``reason_1`` .. ``reason_3`` (:func:`core.models.explain.reason_texts`),
    and when ``expected_spend`` (shape (n,), money per purchase: the Gamma-Gamma estimate
    of a log-built run, :data:`EXPECTED_SPEND`) is given, ``expected_revenue`` = propensity x
    expected spend, the revenue expected in the horizon (Fader, Hardie & Lee 2005, RFM and
    CLV: P(buy) times the expected spend of a purchase)."""
    out = pd.DataFrame({
        "customer_id": ids.to_numpy(),
        "segment_id": assigned["segment_id"].to_numpy(),
        "segment_name": assigned["segment_id"].map(names).to_numpy(),
        "segment_confidence": assigned["segment_confidence"].to_numpy(),
        "segment_reassigned": assigned["segment_reassigned"].to_numpy(),
        "propensity": p,
        "propensity_decile": evaluation.decile_of(p, decile_cuts),
    })
    if reasons is not None:
        for c in [c for c in reasons.columns if not c.endswith("_feature")]:
            out[c] = reasons[c].to_numpy()
    if expected_spend is not None:
        out["expected_revenue"] = p * np.asarray(expected_spend, float)
    return out


def expected_spend(table: pd.DataFrame) -> np.ndarray | None:
    """The table's :data:`EXPECTED_SPEND` column as floats (shape (n,)), None without one."""
    return table[EXPECTED_SPEND].to_numpy(float) if EXPECTED_SPEND in table.columns else None


class ScoringModel:
    """Everything scoring needs from a run, loaded once (segmenter, XGBoost, spec, cut points).

    Load with :meth:`load`; the app keeps one per run id as a cached resource, so model
    objects are never hashed or copied per request.
    """

    def __init__(self, run: store.Run, spec: DatasetSpec, scoring, segmenter, models: propensity.PropensityModels):
        self.run = run
        self.run_id = run.run_id
        self.spec = spec
        self.scoring = scoring
        self.segmenter = segmenter
        self.models = models
        self._explainer = None

    @property
    def segment_names(self) -> dict[int, str]:
        """``{segment_id: name}``, hand-set names winning; read at each call, so a name set
        after the model was loaded is used. A damaged names file (see
        :func:`core.runs.names.display_names`) gives the automatic names, with a warning logged:
        a scoring job does not fail over display names."""
        try:
            return self.run.segment_names()
        except DataError as exc:
            log.warning("%s; scoring with the automatic segment names", exc)
            return self.scoring.segment_names

    @classmethod
    def load(cls, run: store.Run, spec: DatasetSpec | None = None) -> "ScoringModel":
        """Read a saved run's scoring objects (formats that run no code: :mod:`core.runs.safeformat`).

        ``spec``: the spec the caller means to score with; refused (DataError) when it is
        not the spec the run was trained on (the run stores its spec's hash); an incomplete
        or damaged run is refused too (:func:`core.runs.store.check_complete`)."""
        store.check_complete(run)
        sc = run.scoring()
        run_spec = run.spec()
        if spec is not None and sc.spec_hash != spec_hash(spec):
            ours, theirs = set(spec.feature_names), set(run_spec.feature_names)
            diff = sorted(ours ^ theirs)
            what = (f"features differ ({', '.join(diff[:3])}{'...' if len(diff) > 3 else ''})" if diff
                    else "same feature names, but their kinds, ranges or categories differ")
            raise DataError(f"run {run.run_id} was trained on spec '{run_spec.name}', not on this spec "
                            f"'{spec.name}' ({what}): score with the run's own spec or retrain")
        models = propensity.PropensityModels(booster=run.booster(), baseline=None, feature_names=sc.feature_names,
                                             categories=sc.categories, decile_cuts=np.asarray(sc.decile_cuts),
                                             best_iteration=sc.best_iteration, calibrator=sc.calibrator)
        return cls(run, run_spec, sc, run.segmenter(), models)

    @property
    def explainer(self):
        """The run's exact TreeSHAP explainer (:class:`core.models.fastshap.TreeShapPatterns`), built once."""
        if self._explainer is None:
            self._explainer = explain.TreeShapPatterns(self.models.booster, self.models.best_iteration + 1)
        return self._explainer

    def validate(self, df: pd.DataFrame, source: str = "table") -> tuple[pd.DataFrame, dict]:
        """``df`` validated against the run's spec for scoring (:func:`core.inputs.validation.validate`,
        no target, the run's reference date): ``(clean, quality)``. Raises DataError."""
        return validation.validate(df, self.spec, require_target=False, source=source,
                                 reference_date=self.scoring.reference_date)

    def score(self, df: pd.DataFrame, source: str = "table", n_jobs: int = 2,
              chunk_size: int = 250_000, progress=None) -> tuple[pd.DataFrame, dict]:
        """Score a table (no target needed): :meth:`validate`, then :meth:`score_validated`.

        Parameters
        ----------
        df : raw table as read (n rows) with the run's id and feature columns (any order;
            extra columns are ignored and listed).
        source : name used in error messages.
        n_jobs : threads for the reasons' SHAP values.
        chunk_size : rows scored at a time (bounds memory; the result does not depend on it).
        progress : optional callback ``(rows done, rows in all)`` after each chunk.

        Returns
        -------
        scored : DataFrame (n rows): ``customer_id``, ``segment_id``, ``segment_name``,
            ``segment_confidence``, ``segment_reassigned``, ``propensity`` (calibrated),
            ``propensity_decile`` (1 = top 10% of training scores), ``reason_1..3``, ``run_id``,
            ``scored_at`` (UTC time of this scoring, ISO 8601, the same for every row).
        report : dict with ``unseen_categories``, the data-quality summary and
            ``timings_s`` per step (seconds).

        Raises
        ------
        DataError
            Missing feature column, text in a numeric column, duplicate ids...
        """
        t0 = time.perf_counter()
        clean, quality = self.validate(df, source)
        validate_s = round(time.perf_counter() - t0, 3)
        scored, report = self.score_validated(clean, quality, n_jobs, chunk_size, progress)
        report["timings_s"] = {"validate": validate_s, **report["timings_s"]}
        return scored, report

    def score_validated(self, clean: pd.DataFrame, quality: dict, n_jobs: int = 2, chunk_size: int = 250_000,
                        progress=None) -> tuple[pd.DataFrame, dict]:
        """Score a table :meth:`validate` returned (``clean``, ``quality``); returns as :meth:`score`."""
        spec = self.spec
        timings = {"segments": 0.0, "propensity": 0.0, "reasons": 0.0}
        parts, unseen = [], {}
        names = self.segment_names
        for a in range(0, max(len(clean), 1), chunk_size):
            part = clean.iloc[a:a + chunk_size]
            t0 = time.perf_counter()
            assigned = self.segmenter.assign(part)
            t1 = time.perf_counter()
            X, u = self.models.frame(part, spec)
            p = self.models.predict_X(X)
            t2 = time.perf_counter()
            reasons = explain.reason_texts(X, explain.contributions(self.explainer, X, n_jobs), spec)
            t3 = time.perf_counter()
            timings["segments"] += t1 - t0
            timings["propensity"] += t2 - t1
            timings["reasons"] += t3 - t2
            for k, v in u.items():
                unseen[k] = unseen.get(k, 0) + v
            parts.append(scored_frame(part[spec.id_column], assigned, names, p, self.models.decile_cuts, reasons,
                                      expected_spend(part)))
            if progress is not None:
                progress(min(a + chunk_size, len(clean)), len(clean))
        # A column that was entirely empty at training carries no learned effect: values that
        # arrive now are ignored by name (never shifted onto another column), and said so.
        quality = {**quality, "filled_empty_columns": {c: int(clean[c].notna().sum())
                                                       for c in self.scoring.empty_at_training
                                                       if clean[c].notna().any()}}
        out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        out["run_id"] = self.run_id
        out["scored_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        return out, {"unseen_categories": unseen, "quality": quality,
                     "timings_s": {k: round(v, 3) for k, v in timings.items()}}


def score(df: pd.DataFrame, run: store.Run, source: str = "table", spec: DatasetSpec | None = None,
          n_jobs: int = 2) -> tuple[pd.DataFrame, dict]:
    """Score a table with a saved run: ``ScoringModel.load(run, spec).score(df, source)``."""
    return ScoringModel.load(run, spec).score(df, source, n_jobs)


def run_scores(run) -> pd.DataFrame:
    """A run's scoring of its training table as :meth:`core.activation.database.Database.write_scores` takes it: the
    scored table with ``run_id`` and ``scored_at`` (the run's creation time); for a run of
    stacked snapshots (a log), each customer once, as of the latest cutoff."""
    scored = run.table("scored")
    scored, _, _ = cohorts.latest_snapshot(scored)
    return scored.assign(run_id=run.run_id, scored_at=run.manifest().created_at)
