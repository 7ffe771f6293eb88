"""Orchestration: ``train`` (load, segment, fit, score, save a run) and ``score``.

Both the CLI and the Admin page call :func:`train`; both the CLI and tests call
:func:`score`. Progress goes to a callback ``progress(fraction, message)`` with fraction
in 0..1.
"""
from __future__ import annotations

import importlib.metadata
import logging
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import joblib
import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

from core import data as data_mod
from core import continuity, evaluation, explain, playbook, profiling, propensity, registry, synthetic
from core.config import Settings
from core.errors import DataError
from core.features import learn_categories
from core.schema import DatasetSpec, load_spec, shopsphere_spec
from core.segmentation import Segmenter

log = logging.getLogger(__name__)
Progress = Callable[[float, str], None]

_VERSIONED = ("numpy", "pandas", "scikit-learn", "xgboost", "umap-learn", "hdbscan", "shap", "pyarrow")


def _versions() -> dict:
    out = {"python": platform.python_version()}
    for pkg in _VERSIONED:
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def resolve_spec(spec_path: str | Path | None) -> DatasetSpec:
    """The spec in ``spec_path``, or the built-in ShopSphere spec when None."""
    return load_spec(spec_path) if spec_path else shopsphere_spec()


def ensure_default_data(settings: Settings, progress: Progress | None = None) -> Path:
    """Generate the default ShopSphere table at ``settings.default_data`` if it is absent."""
    path = Path(settings.default_data)
    if not path.exists():
        if progress:
            progress(0.0, f"generating the default ShopSphere table ({settings.default_rows:,} customers)")
        path.parent.mkdir(parents=True, exist_ok=True)
        df = synthetic.generate(settings.default_rows, settings.seed)
        tmp = path.with_name(path.name + ".tmp")
        df.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    return path


def train(data_path: str | Path | None = None, spec_path: str | Path | None = None,
          settings: Settings = Settings(), progress: Progress | None = None, make_current: bool = True) -> registry.Run:
    """Train a run on a table and (by default) make it current.

    One training at a time per runs folder (:func:`core.registry.training_lock`); after a
    successful training, runs beyond ``settings.keep_runs`` are deleted
    (:func:`core.registry.prune_runs`: never the current run or an earlier champion).

    Parameters
    ----------
    data_path : CSV or Parquet; None: the default ShopSphere table (generated if absent).
    spec_path : TOML spec; None: the built-in ShopSphere spec.
    settings : the one settings object.
    progress : callback ``(fraction, message)``.
    make_current : False trains a challenger: saved, but the current run stays.

    Returns
    -------
    The saved run.

    Raises
    ------
    DataError
        Bad spec, file or table, or another training running in the same folder (nothing
        is written; the current run is unchanged).
    """
    with registry.training_lock(settings.artifacts_dir):
        run = _train(data_path, spec_path, settings, progress, make_current)
        registry.prune_runs(settings.artifacts_dir, settings.keep_runs)
    return run


def _train(data_path, spec_path, settings: Settings, progress: Progress | None, make_current: bool) -> registry.Run:
    progress = progress or (lambda f, m: log.info("%3.0f%% %s", 100 * f, m))
    timings: dict[str, float] = {}
    t_all = time.perf_counter()

    def step(name, t0):
        timings[name] = round(time.perf_counter() - t0, 3)

    spec = resolve_spec(spec_path)
    if data_path is None:
        t0 = time.perf_counter()
        data_path = ensure_default_data(settings, progress)
        step("generate", t0)
    t0 = time.perf_counter()
    progress(0.02, f"reading {data_path}")
    raw = data_mod.read_table(data_path, spec)
    clean, quality = data_mod.validate(raw, spec, require_target=True, source=str(data_path))
    data_hash = data_mod.frame_hash(raw)
    del raw
    y = clean[spec.target].to_numpy(int)
    try:  # fails fast on too few positives or negatives, and on a leaky feature
        snapshot = clean[spec.snapshot_column] if spec.snapshot_column else None
        split = propensity.split_rows(y, settings.propensity, settings.seed, snapshot)
        single_auc = propensity.leakage_check(clean, spec, y, split == "train", settings.propensity.leakage_max_auc,
                                             settings.seed)
    except DataError as exc:
        raise DataError(f"{data_path}: {exc}") from None
    step("load_validate", t0)

    categories = learn_categories(clean, spec)
    t0 = time.perf_counter()
    progress(0.08, "segmentation: fitting on a sample")
    seg = Segmenter(settings=settings.segmentation, random_state=settings.seed, n_jobs=settings.n_jobs)
    seg.fit(clean, spec, categories, progress=lambda m: progress(0.2, "segmentation: " + m))
    progress(0.45, f"segmentation: assigning {len(clean):,} customers")
    assigned = seg.assign(clean)
    progress(0.47, "segmentation: matching segments to the current run's")
    artifacts = Path(settings.artifacts_dir)
    link = link_to_previous(artifacts, spec, seg, clean, assigned["segment_id"].to_numpy(),
                            settings.segmentation.match_min_jaccard)
    seg.relabel(link["mapping"])
    assigned["segment_id"] = seg.segment_ids_[assigned["segment_id"].to_numpy()]
    profiles = profiling.profile_segments(clean, assigned["segment_id"].to_numpy(), spec)
    continuity.carry_names(profiles, link)
    rules = profiling.surrogate_rules(clean, assigned["segment_id"].to_numpy(), spec, seg.columns_, settings.seed)
    base_rate = float(clean[spec.target].mean())
    for p in profiles:
        r = rules["segments"].get(p["segment_id"], {"fidelity": 0.0, "rules": []})
        p["rules"], p["rule_fidelity"] = r["rules"], r["fidelity"]
        p["description"] = profiling.describe_segment(p, spec, base_rate)
    names = {p["segment_id"]: p["name"] for p in profiles}
    if link["previous_run"]:
        link["transitions"] = continuity.transition_matrix(
            link.pop("previous_scored"), clean[spec.id_column], assigned["segment_id"].to_numpy()).to_dict("records")
    link.pop("previous_scored", None)
    step("segmentation", t0)

    t0 = time.perf_counter()
    progress(0.55, "propensity: logistic baseline and XGBoost (Optuna tuning, early stopping, calibration)")
    models = propensity.fit(clean, spec, split, categories, settings.propensity, settings.seed, settings.n_jobs,
                            progress=lambda m: progress(0.6, "propensity: " + m))
    step("propensity", t0)
    t0 = time.perf_counter()
    progress(0.75, "propensity: test metrics with bootstrap intervals, calibration, lift, budget")
    metrics = propensity.evaluate(models, clean, spec, split, settings.propensity, settings.seed)
    metrics["leakage_single_feature_auc"] = single_auc
    step("evaluate", t0)

    t0 = time.perf_counter()
    progress(0.8, "explaining: SHAP importance on a sample")
    rng = np.random.default_rng(settings.seed)
    sample = np.sort(rng.choice(len(clean), size=min(settings.propensity.shap_sample, len(clean)), replace=False))
    X_sample, _ = models.frame(clean.iloc[sample], spec)
    explainer = explain.TreeShapPatterns(models.booster, models.best_iteration + 1)
    contrib_sample = explainer.shap_values(X_sample)
    importance = explain.importance_table(contrib_sample, list(X_sample.columns), spec)
    shap_points = explain.shap_points(X_sample, contrib_sample, importance["feature"].head(10).tolist(), spec)
    metrics["reason_agreement"] = explain.agreement_with_treeshap(models.booster, models.best_iteration + 1, explainer,
                                                                  X_sample.iloc[:2000])
    step("explain", t0)

    t0 = time.perf_counter()
    progress(0.85, "scoring the training table (segments, calibrated propensity, reasons)")
    X_all, unseen_train = models.frame(clean, spec)
    p = models.predict_X(X_all)
    reasons = explain.reason_texts(X_all, explain.contributions(explainer, X_all, settings.n_jobs), spec)
    del X_all
    metrics["unseen_categories_train"] = unseen_train
    scored = scored_frame(clean[spec.id_column], assigned, names, p, models.decile_cuts, reasons)
    scored["split"] = split
    scored[spec.target] = y
    te = split == "test"
    features = clean[[spec.id_column] + spec.feature_names].reset_index(drop=True)
    matrix = playbook.segment_matrix(scored, y, te, features, spec)
    metrics["segments_propensity"] = evaluation.segment_metrics(
        y[te], p[te], scored["segment_id"].to_numpy()[te]).assign(
        name=lambda d: d["segment_id"].map(names)).to_dict("records")
    seg_info = dict(seg.fit_info_)
    if "_persona" in clean:
        seg_info["ari_vs_true_persona"] = float(adjusted_rand_score(clean["_persona"], assigned["segment_id"]))
    seg_info["reassigned_share"] = float(assigned["segment_reassigned"].mean())
    seg_info["surrogate_fidelity"] = rules["fidelity"]
    seg_info["surrogate_depth"] = rules["depth"]
    metrics["segmentation"] = seg_info
    metrics["propensity_model"] = models.info
    step("score", t0)

    t0 = time.perf_counter()
    progress(0.92, "saving the run")
    created = datetime.now(timezone.utc)
    run_id = created.strftime("%Y%m%d-%H%M%S-") + data_hash[:6]
    n = 1
    while (registry.runs_dir(artifacts) / run_id).exists():  # same data within the same second
        n += 1
        run_id = created.strftime("%Y%m%d-%H%M%S-") + f"{data_hash[:6]}-{n}"
    tmp = registry.begin_run(artifacts, run_id)
    try:
        models.booster.save_model(str(tmp / "xgboost.json"))
        joblib.dump(models.baseline, tmp / "baseline.joblib")
        joblib.dump(seg, tmp / "segmenter.joblib")
        registry.write_json(tmp / "scoring.json", {
            "feature_names": models.feature_names, "categories": categories,
            "decile_cuts": models.decile_cuts, "best_iteration": models.best_iteration,
            "calibrator": models.calibrator, "spec_hash": spec_hash(spec),
            "reference_date": quality.get("reference_date"), "segment_names": names,
            "empty_at_training": [c for c in spec.feature_names if clean[c].isna().all()],
        })
        registry.write_json(tmp / "metrics.json", metrics)
        registry.write_json(tmp / "profiles.json", profiles)
        registry.write_json(tmp / "quality.json", quality)
        registry.write_json(tmp / "continuity.json", {k: v for k, v in link.items() if k != "mapping"})
        importance.to_csv(tmp / "importance.csv", index=False)
        shap_points.to_parquet(tmp / "shap_points.parquet", index=False)
        scored.to_parquet(tmp / "scored.parquet", index=False)
        features.to_parquet(tmp / "features.parquet", index=False)
        matrix.to_parquet(tmp / "matrix.parquet", index=False)
        proj = seg.projection_.copy()
        proj["customer_id"] = clean[spec.id_column].to_numpy()[proj["row"]]
        proj = proj.merge(scored[["customer_id", "segment_id", "segment_name", "propensity"]], on="customer_id")
        proj.drop(columns="row").to_parquet(tmp / "projection.parquet", index=False)
        step("save", t0)
        timings["total"] = round(time.perf_counter() - t_all, 3)
        registry.write_json(tmp / "manifest.json", {
            "run_id": run_id,
            "created_at": created.isoformat(timespec="seconds"),
            "dataset": spec.name,
            "data_path": str(data_path),
            "data_hash": data_hash,
            "rows": int(len(clean)),
            "seed": settings.seed,
            "settings": settings.to_dict(),
            "spec": spec.to_dict(),
            "versions": _versions(),
            "timings_s": timings,
            "n_segments": seg.n_segments_,
            "segmentation_method": seg.method_,
        })
        run_path = registry.commit_run(artifacts, tmp, run_id, make_current=make_current)
    except BaseException:
        registry.abort_run(tmp)
        raise
    progress(1.0, f"run {run_id} saved" + (" and made current" if make_current else " (not made current)"))
    return registry.Run(run_path)


def link_to_previous(artifacts: Path, spec: DatasetSpec, seg: Segmenter, clean: pd.DataFrame,
                     fitted: np.ndarray, min_jaccard: float) -> dict:
    """Match a new segmentation to the current run's (see :mod:`core.continuity`).

    The previous run is the current run when it is of the same data set (spec name), else
    the newest run of that data set. With the same segmentation inputs, its segmenter
    assigns ``clean`` and the two labelings of the same customers are matched. Otherwise
    the new segments keep ids 0..k-1.

    Parameters
    ----------
    fitted : shape (n,), the new segmenter's ids (0..k-1) of ``clean``'s customers.

    Returns
    -------
    dict: ``previous_run`` (id or None), ``reason`` (why not compared, or ""), ``mapping``
    ``{fitted id: public id}``, ``status``, ``retired`` (list of ``{segment_id, name}``),
    ``pairs``, ``next_id``, ``previous_names`` and, when compared, ``previous_scored``
    (the previous run's customer ids and segments, for the transition matrix).
    """
    ids = list(range(seg.n_segments_))
    first = {"previous_run": None, "reason": "", "mapping": {i: i for i in ids},
             "status": {i: "first run" for i in ids}, "retired": [], "pairs": [], "next_id": len(ids),
             "previous_names": {}}
    current = registry.current_run_id(artifacts)
    # the current run, or else the newest run of this data set (ids and hand-set names are
    # per data set, so a run of another table in between must not restart them)
    candidates = ([current] if current else []) + [r for r in reversed(registry.list_runs(artifacts)) if r != current]
    prev_id = next((r for r in candidates if registry.load_run(artifacts, r).manifest()["dataset"] == spec.name), None)
    if prev_id is None:
        first["reason"] = f"no earlier run of data set {spec.name}"
        return first
    prev = registry.load_run(artifacts, prev_id)
    old_seg = prev.joblib("segmenter")
    prev_profiles = prev.profiles()
    old_ids = [int(p["segment_id"]) for p in prev_profiles]
    prev_next = prev.continuity().get("next_id", max(old_ids) + 1)
    if list(old_seg.columns_) != list(seg.columns_):
        # not comparable, but ids are never reused: a hand-set name stays with its segment
        return {**first, "reason": f"run {prev_id} segments on other inputs",
                "mapping": {i: prev_next + i for i in ids}, "status": {prev_next + i: "new" for i in ids},
                "next_id": prev_next + len(ids)}
    old_labels = old_seg.assign(clean)["segment_id"].to_numpy()
    out = continuity.match_segments(old_labels, fitted, old_ids, ids, prev_next, min_jaccard)
    names = {int(p["segment_id"]): p["name"] for p in prev_profiles}
    out.update(previous_run=prev_id, reason="", previous_names=names,
               retired=[{"segment_id": i, "name": names.get(i)} for i in out["retired"]],
               previous_scored=prev.table("scored")[["customer_id", "segment_id"]])
    return out


def scored_frame(ids: pd.Series, assigned: pd.DataFrame, names: dict, p: np.ndarray,
                 decile_cuts: np.ndarray, reasons: pd.DataFrame | None = None) -> pd.DataFrame:
    """The scored table, one row per customer (n rows): ``customer_id``, ``segment_id``,
    ``segment_name``, ``segment_confidence``, ``segment_reassigned``, ``propensity`` (0..1,
    calibrated), ``propensity_decile`` (1 = top 10% of the training scores) and, when
    ``reasons`` is given, ``reason_1`` .. ``reason_3`` (:func:`core.explain.reason_texts`)."""
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
    return out


def spec_hash(spec: DatasetSpec) -> str:
    """SHA-256 (hex) of the spec's JSON form: a run refuses tables described by another spec."""
    import hashlib
    import json
    return hashlib.sha256(json.dumps(spec.to_dict(), sort_keys=True, default=str).encode()).hexdigest()


class ScoringModel:
    """Everything scoring needs from a run, loaded once (segmenter, XGBoost, spec, cut points).

    Load with :meth:`load`; the app keeps one per run id as a cached resource, so model
    objects are never hashed or copied per request.
    """

    def __init__(self, run_id: str, spec: DatasetSpec, scoring: dict, segmenter: Segmenter,
                 models: propensity.PropensityModels, run: registry.Run | None = None):
        self.run_id = run_id
        self.spec = spec
        self.scoring = scoring
        self.segmenter = segmenter
        self.models = models
        self.run = run
        self.auto_names = {int(k): v for k, v in scoring["segment_names"].items()}

    @property
    def segment_names(self) -> dict[int, str]:
        """``{segment_id: name}``, hand-set names winning; read at each call, so a name set
        after the model was loaded is used."""
        return self.run.segment_names() if self.run is not None else self.auto_names

    @classmethod
    def load(cls, run: registry.Run, spec: DatasetSpec | None = None) -> "ScoringModel":
        """Read a saved run's scoring objects (joblib only from runs this product wrote).

        ``spec``: the spec the caller means to score with; refused (DataError) when it is
        not the spec the run was trained on (the run stores its spec's hash); an incomplete
        or damaged run is refused too (:func:`core.registry.check_complete`)."""
        registry.check_complete(run)
        sc = run._json("scoring.json")
        run_spec = run.spec()
        if spec is not None and sc.get("spec_hash") not in (None, spec_hash(spec)):
            ours, theirs = set(spec.feature_names), set(run_spec.feature_names)
            diff = sorted(ours ^ theirs)
            what = (f"features differ ({', '.join(diff[:3])}{'...' if len(diff) > 3 else ''})" if diff
                    else "same feature names, but their kinds, ranges or categories differ")
            raise DataError(f"run {run.run_id} was trained on spec '{run_spec.name}', not on this spec "
                            f"'{spec.name}' ({what}): score with the run's own spec or retrain")
        models = propensity.PropensityModels(booster=run.booster(), baseline=None, feature_names=sc["feature_names"],
                                             categories=sc["categories"], decile_cuts=np.asarray(sc["decile_cuts"]),
                                             best_iteration=int(sc["best_iteration"]),
                                             calibrator=sc.get("calibrator", {"method": "none"}))
        return cls(run.run_id, run_spec, sc, run.joblib("segmenter"), models, run)

    @property
    def explainer(self):
        """The run's exact TreeSHAP explainer (:class:`core.fastshap.TreeShapPatterns`), built once."""
        if getattr(self, "_explainer", None) is None:
            self._explainer = explain.TreeShapPatterns(self.models.booster, self.models.best_iteration + 1)
        return self._explainer

    def score(self, df: pd.DataFrame, source: str = "table", n_jobs: int = 2,
              chunk_size: int = 250_000, progress=None) -> tuple[pd.DataFrame, dict]:
        """Score a table (no target needed).

        Parameters
        ----------
        df : raw table as read (n rows) with the run's id and feature columns (any order;
            extra columns are ignored and listed).
        source : name used in error messages.
        n_jobs : threads for the reasons' SHAP values.
        chunk_size : rows validated and scored at a time (bounds memory; the result does
            not depend on it: validation is per row, segments and scores are batch-independent).
        progress : optional callback ``(rows done, rows in all)`` after each chunk.

        Returns
        -------
        scored : DataFrame (n rows): ``customer_id``, ``segment_id``, ``segment_name``,
            ``segment_confidence``, ``segment_reassigned``, ``propensity`` (calibrated),
            ``propensity_decile`` (1 = top 10% of training scores), ``reason_1..3``, ``run_id``,
            ``scored_at`` (UTC time of this scoring, ISO 8601, the same for every row).
        report : dict with ``unseen_categories``, the data-quality summary and
            ``timings_s`` per step.

        Raises
        ------
        DataError
            Missing feature column, text in a numeric column, duplicate ids...
        """
        spec, sc = self.spec, self.scoring
        timings = {"validate": 0.0, "segments": 0.0, "propensity": 0.0, "reasons": 0.0}
        t0 = time.perf_counter()
        clean, quality = data_mod.validate(df, spec, require_target=False, source=source,
                                           reference_date=sc.get("reference_date"))
        timings["validate"] += time.perf_counter() - t0
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
            parts.append(scored_frame(part[spec.id_column], assigned, names, p, self.models.decile_cuts, reasons))
            if progress is not None:
                progress(min(a + chunk_size, len(clean)), len(clean))
        # A column that was entirely empty at training carries no learned effect: values that
        # arrive now are ignored by name (never shifted onto another column), and said so.
        quality["filled_empty_columns"] = {c: int(clean[c].notna().sum()) for c in sc.get("empty_at_training", [])
                                           if clean[c].notna().any()}
        out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        out["run_id"] = self.run_id
        out["scored_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        return out, {"unseen_categories": unseen, "quality": quality,
                     "timings_s": {k: round(v, 3) for k, v in timings.items()}}


_WORKER_MODELS: dict[str, ScoringModel] = {}


def _score_partition(part: pd.DataFrame, run_path: str, scored_at: str, n_jobs: int) -> pd.DataFrame:
    """Score one partition in a Dask worker; each worker process loads the run once."""
    model = _WORKER_MODELS.get(run_path)
    if model is None:
        model = _WORKER_MODELS[run_path] = ScoringModel.load(registry.Run(Path(run_path)))
    out, _ = model.score(part.reset_index(drop=True), source="partition", n_jobs=n_jobs)
    out["scored_at"] = scored_at  # one time for the whole scoring, as in the single-process path
    return out


def score_dask(run: registry.Run, data: str | Path, scheduler: str | None = None, n_workers: int = 2,
               threads_per_worker: int = 1) -> pd.DataFrame:
    """Score a partitioned Parquet data set on a Dask cluster with the same scoring function.

    ``dask.dataframe.read_parquet`` splits the data set into partitions (one or more per
    part file) and ``map_partitions`` runs :meth:`ScoringModel.score` on each in the
    workers, which load the run once per process from ``run.path`` (the run folder must be
    readable by every worker: shared storage on a real cluster). Segments, scores, deciles
    and reasons are batch-independent, so the result equals single-process scoring row for
    row (tested). Duplicate ids are checked within a partition only.

    Parameters
    ----------
    data : a Parquet file or a folder of Parquet parts (any fsspec URL Dask reads, e.g.
        ``s3://bucket/customers/`` with ``s3fs`` installed).
    scheduler : address of a running Dask scheduler (``tcp://host:8786``); None starts a
        ``LocalCluster`` of ``n_workers`` processes with ``threads_per_worker`` threads.

    Returns the scored table (as :meth:`ScoringModel.score`), in partition order.

    Raises
    ------
    DataError
        The data cannot be read, or a partition fails validation (its message).
    """
    import dask.dataframe as dd
    from dask.distributed import Client, LocalCluster

    logging.getLogger("distributed").setLevel(logging.WARNING)  # no cluster chatter in the CLI output
    try:
        ddf = dd.read_parquet(str(data))
    except (OSError, ValueError) as exc:
        raise DataError(f"{data}: cannot read as Parquet ({str(exc).splitlines()[0] if str(exc) else exc})") from None
    model = ScoringModel.load(run)
    head = ddf.head(2, npartitions=-1)
    meta, _ = model.score(head, source=str(data), n_jobs=1)
    scored_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    meta = meta.assign(scored_at=scored_at).iloc[:0]
    cluster = None if scheduler else LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker,
                                                  processes=True, dashboard_address=None)
    try:
        with Client(scheduler or cluster):  # the default scheduler while open
            out = ddf.map_partitions(_score_partition, str(run.path), scored_at, threads_per_worker,
                                     meta=meta).compute()
    except DataError:
        raise
    except Exception as exc:  # a worker's DataError arrives re-raised by distributed
        if type(exc).__name__ == "DataError":
            raise DataError(str(exc)) from None
        raise
    finally:
        if cluster is not None:
            cluster.close()
    return out.reset_index(drop=True)


def score(df: pd.DataFrame, run: registry.Run, source: str = "table", spec: DatasetSpec | None = None,
          n_jobs: int = 2) -> tuple[pd.DataFrame, dict]:
    """Score a table with a saved run: ``ScoringModel.load(run, spec).score(df, source)``."""
    return ScoringModel.load(run, spec).score(df, source, n_jobs)


def promotion_decision(champion: dict, challenger: dict, tolerance: float, auto_promote: bool,
                       challenger_id: str = "RUN_ID") -> tuple[dict, str, str]:
    """Whether a challenger may replace the champion.

    ``champion`` and ``challenger`` hold ``roc_auc``, ``pr_auc`` and ``ece`` on the same
    rows. "Not worse" means neither ROC-AUC nor PR-AUC drops, nor ECE rises, by more than
    ``tolerance``. Returns ``(not_worse per check, decision, why)`` with decision
    ``promoted`` (not worse and ``auto_promote``), ``waiting for approval`` (not worse) or
    ``kept champion``.
    """
    a, b, tol = challenger, champion, tolerance
    not_worse = {"roc_auc": a["roc_auc"] >= b["roc_auc"] - tol, "pr_auc": a["pr_auc"] >= b["pr_auc"] - tol,
                 "ece": a["ece"] <= b["ece"] + tol}
    if all(not_worse.values()):
        if auto_promote:
            return not_worse, "promoted", f"not worse than the champion beyond {tol}"
        return not_worse, "waiting for approval", (f"not worse than the champion beyond {tol}; auto_promote is off: "
                                                   f"promote with python -m core promote {challenger_id}")
    worse = ", ".join(k for k, ok in not_worse.items() if not ok)
    return not_worse, "kept champion", (f"worse than the champion on {worse} beyond {tol}; promote by hand only "
                                        f"after a look (python -m core promote {challenger_id})")


def retrain(data_path: str | Path | None, spec_path: str | Path | None, settings: Settings,
            progress: Progress | None = None) -> dict:
    """Monthly retrain with a human gate: train a challenger beside the champion (the current
    run), compare them, and promote the challenger only when configured and not worse.

    Both models score the challenger's held-out test rows (never seen by either): ROC-AUC,
    PR-AUC (average precision), Brier and ECE side by side; the champion is also measured on
    the whole new table (its first look at it). Segment continuity comes from the
    challenger's matching to the champion (:mod:`core.continuity`: matched ids, new and
    retired segments, the share of customers keeping their segment, the transition matrix).
    The challenger is promoted when ``settings.auto_promote`` and neither ROC-AUC nor PR-AUC
    drops, nor ECE rises, by more than ``settings.promote_tolerance``; otherwise it waits
    for ``python -m core promote RUN_ID`` or the Admin page. The report is saved under
    ``artifacts/monitoring/<challenger>/retrain-*.json``.

    Returns the report: ``champion``, ``challenger`` (run ids), ``test_rows``, ``metrics``
    (``{champion: {...}, challenger: {...}}`` on the test rows), ``champion_on_new_data``,
    ``continuity``, ``not_worse`` (per check), ``decision`` (``promoted``, ``waiting for
    approval`` or ``kept champion``) and ``why``.

    Raises
    ------
    DataError
        No current run to challenge, a challenger of another data set, or anything
        :func:`train` raises (the champion stays current).
    """
    artifacts = settings.artifacts_dir
    champ_id = registry.current_run_id(artifacts)
    if champ_id is None:
        raise DataError(f"no current run in {artifacts} to challenge: train one first (python -m core train)")
    champion = registry.load_run(artifacts, champ_id)
    challenger = train(data_path, spec_path, settings, progress, make_current=False)
    spec = challenger.spec()
    if spec.name != champion.spec().name:
        raise DataError(f"challenger {challenger.run_id} is of data set '{spec.name}', the champion "
                        f"{champ_id} of '{champion.spec().name}': retrain on the champion's kind of table")
    scored, feats = challenger.table("scored"), challenger.table("features")
    test = (scored["split"] == "test").to_numpy()
    if spec.snapshot_column:  # training ids carry the snapshot date; score with the plain ids
        feats = feats.assign(**{spec.id_column: feats[spec.id_column].str.split("@").str[0]})
    # the champion scores the whole new table once; its test rows are a subset of it
    p_champ_all = ScoringModel.load(champion).score(feats, source="new table", n_jobs=settings.n_jobs)[0][
        "propensity"].to_numpy(float)
    y_all = scored[spec.target].to_numpy(int)
    y = y_all[test]

    def figures(p):
        m = evaluation.classification_metrics(y, p)
        return {"roc_auc": m["roc_auc"], "pr_auc": m["pr_auc"], **evaluation.probability_metrics(y, p),
                "lift_top_decile": m["lift_top_decile"]}

    metrics = {"champion": figures(p_champ_all[test]),
               "challenger": figures(scored.loc[test, "propensity"].to_numpy(float))}
    on_new = evaluation.classification_metrics(y_all, p_champ_all)
    tol = settings.promote_tolerance
    not_worse, decision, why = promotion_decision(metrics["champion"], metrics["challenger"], tol,
                                                  settings.auto_promote, challenger.run_id)
    link = challenger.continuity()
    statuses = list(link.get("status", {}).values())
    trans = pd.DataFrame(link.get("transitions", []))
    kept = None
    if len(trans):
        kept = float(trans.loc[trans["old_segment"] == trans["new_segment"], "customers"].sum() / trans["customers"].sum())
    continuity = {"previous_run": link.get("previous_run"), "matched": statuses.count("matched"),
                  "new": statuses.count("new"), "retired": len(link.get("retired", [])),
                  "share_keeping_segment": kept, "transitions": link.get("transitions", [])}
    if decision == "promoted":
        registry.promote(artifacts, challenger.run_id)
    report = {"champion": champ_id, "challenger": challenger.run_id, "test_rows": int(test.sum()),
              "metrics": metrics, "champion_on_new_data": on_new, "continuity": continuity,
              "not_worse": not_worse, "tolerance": tol, "auto_promote": settings.auto_promote,
              "decision": decision, "why": why,
              "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    report["report_path"] = str(registry.save_monitoring(artifacts, challenger.run_id, "retrain", report))
    return report


def drift_against_run(run: registry.Run, df: pd.DataFrame, source: str = "table", n_jobs: int = 2) -> dict:
    """Drift of a new table against the table run ``run`` was trained on
    (:func:`core.monitoring.drift_report`): every feature's PSI, the score's PSI and the
    segment-share shift, the new table being scored with the run.

    Raises
    ------
    DataError
        The run keeps no training features (trained before they were saved), or the new
        table does not validate against the run's spec.
    """
    from core import monitoring

    if not (run.path / "features.parquet").is_file():
        raise DataError(f"run {run.run_id} keeps no training features (it predates drift monitoring): retrain first")
    model = ScoringModel.load(run)
    clean, _ = data_mod.validate(df, model.spec, require_target=False, source=source,
                                 reference_date=model.scoring.get("reference_date"))
    new_scored, _ = model.score(df, source=source, n_jobs=n_jobs)
    report = monitoring.drift_report(run.table("features"), clean, model.spec, run.table("scored"), new_scored)
    report.update(run_id=run.run_id, source=str(source),
                  created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    return report


def check_output_path(out: str | Path) -> Path:
    """Fail fast on an output path we cannot write: wrong suffix, an existing folder.

    Raises DataError; returns the path.
    """
    out = Path(out)
    if out.suffix.lower() not in (".csv", ".parquet", ".pq"):
        raise DataError(f"{out}: output must end in .csv or .parquet")
    if out.is_dir():
        raise DataError(f"{out}: is a folder, expected a file name")
    return out


def write_table(df: pd.DataFrame, out: str | Path) -> Path:
    """Write CSV or Parquet (by suffix) to a temporary name, then move it into place.

    Raises DataError when the path is not writable; nothing is left behind on failure.
    """
    out = check_output_path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix.lower() == ".csv":
            df.to_csv(tmp, index=False)
        else:
            df.to_parquet(tmp, index=False)
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DataError(f"{out}: cannot write ({exc.strerror or exc})") from None
    return out


def quality_notes(quality: dict, unseen: dict, training: bool = False) -> list[str]:
    """One plain line per cleaning action the data needed (for the CLI and the app);
    ``training`` adds the notes that only matter for a training table."""
    notes = []
    if quality.get("extra_columns"):
        notes.append(f"ignored columns not in the spec: {', '.join(quality['extra_columns'])}")
    empty = [c for c, share in quality.get("missing_share", {}).items() if share >= 1.0]
    if empty:
        notes.append(f"column{'s' if len(empty) > 1 else ''} {', '.join(repr(c) for c in empty)} "
                     f"{'are' if len(empty) > 1 else 'is'} empty in every row: scored as missing throughout"
                     + ("" if training else " (scores may differ from customers whose values are known)"))
    for col, n in quality.get("inf_to_missing", {}).items():
        notes.append(f"column '{col}': {n} infinite or too large value(s) treated as missing")
    for col, d in quality.get("out_of_range", {}).items():
        action = "set missing" if d["rule"] == "missing" else "clipped to the valid range"
        notes.append(f"column '{col}': {d['count']} value(s) outside the valid range {action}")
    for col, n in unseen.items():
        notes.append(f"column '{col}': {n} value(s) of a category not seen in training scored as missing")
    dup, rows = quality.get("duplicate_feature_rows", 0), quality.get("rows", 0)
    if training and rows and dup / rows >= 0.05:
        notes.append(f"{dup:,} of {rows:,} rows ({dup / rows:.0%}) repeat another row's features: copies can land in "
                     "both the training and the test rows, so test metrics may be optimistic")
    for col, n in quality.get("filled_empty_columns", {}).items():
        notes.append(f"column '{col}' was empty in the training table; its {n} value(s) now are ignored "
                     "by the model until a retrain")
    return notes
