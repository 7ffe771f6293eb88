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
from core.features import learn_categories, model_frame
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
          settings: Settings = Settings(), progress: Progress | None = None) -> registry.Run:
    """Train a run on a table and make it current.

    Parameters
    ----------
    data_path : CSV or Parquet; None: the default ShopSphere table (generated if absent).
    spec_path : TOML spec; None: the built-in ShopSphere spec.
    settings : the one settings object.
    progress : callback ``(fraction, message)``.

    Returns
    -------
    The saved run (now current).

    Raises
    ------
    DataError
        Bad spec, file or table (nothing is written; the current run is unchanged).
    """
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
    try:  # fails fast on too few positives or negatives
        split = propensity.split_rows(y, settings.propensity, settings.seed)
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
    progress(0.55, "propensity: fitting logistic baseline and XGBoost (early stopping)")
    models, metrics = propensity.fit(clean, spec, split, categories, settings.propensity, settings.seed,
                                     settings.n_jobs)
    step("propensity", t0)

    t0 = time.perf_counter()
    progress(0.8, "explaining: SHAP importance on a sample")
    rng = np.random.default_rng(settings.seed)
    sample = np.sort(rng.choice(len(clean), size=min(settings.propensity.shap_sample, len(clean)), replace=False))
    X_sample, _ = model_frame(clean.iloc[sample], spec, categories)
    importance = explain.shap_importance(models.booster, X_sample, spec)
    step("explain", t0)

    t0 = time.perf_counter()
    progress(0.85, "scoring the training table")
    p, unseen_train = models.predict(clean, spec)
    metrics["unseen_categories_train"] = unseen_train
    scored = scored_frame(clean[spec.id_column], assigned, names, p, models.decile_cuts)
    scored["split"] = split
    scored[spec.target] = y
    te = split == "test"
    matrix = playbook.segment_matrix(scored, y, te)
    metrics["deciles_xgboost"] = evaluation.decile_table(y[te], p[te]).to_dict("records")
    metrics["curves_xgboost"] = evaluation.curves(y[te], p[te])
    metrics["curves_logistic"] = evaluation.curves(y[te], models.predict_baseline(clean.loc[te]))
    if "_true_propensity" in clean:
        oracle = clean["_true_propensity"].to_numpy(float)
        metrics["oracle"] = evaluation.classification_metrics(y[te], oracle[te])
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
            "reference_date": quality.get("reference_date"), "segment_names": names,
            "empty_at_training": [c for c in spec.feature_names if clean[c].isna().all()],
        })
        registry.write_json(tmp / "metrics.json", metrics)
        registry.write_json(tmp / "profiles.json", profiles)
        registry.write_json(tmp / "quality.json", quality)
        registry.write_json(tmp / "continuity.json", {k: v for k, v in link.items() if k != "mapping"})
        importance.to_csv(tmp / "importance.csv", index=False)
        scored.to_parquet(tmp / "scored.parquet", index=False)
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
        run_path = registry.commit_run(artifacts, tmp, run_id)
    except BaseException:
        registry.abort_run(tmp)
        raise
    progress(1.0, f"run {run_id} saved and made current")
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
                 decile_cuts: np.ndarray) -> pd.DataFrame:
    """The scored table, one row per customer (n rows): ``customer_id``, ``segment_id``,
    ``segment_name``, ``segment_confidence``, ``segment_reassigned``, ``propensity`` (0..1),
    ``propensity_decile`` (1 = top 10% of the training scores)."""
    return pd.DataFrame({
        "customer_id": ids.to_numpy(),
        "segment_id": assigned["segment_id"].to_numpy(),
        "segment_name": assigned["segment_id"].map(names).to_numpy(),
        "segment_confidence": assigned["segment_confidence"].to_numpy(),
        "segment_reassigned": assigned["segment_reassigned"].to_numpy(),
        "propensity": p,
        "propensity_decile": evaluation.decile_of(p, decile_cuts),
    })


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
    def load(cls, run: registry.Run) -> "ScoringModel":
        """Read a saved run's scoring objects (joblib only from runs this product wrote)."""
        sc = run._json("scoring.json")
        models = propensity.PropensityModels(booster=run.booster(), baseline=None, feature_names=sc["feature_names"],
                                             categories=sc["categories"], decile_cuts=np.asarray(sc["decile_cuts"]),
                                             best_iteration=int(sc["best_iteration"]))
        return cls(run.run_id, run.spec(), sc, run.joblib("segmenter"), models, run)

    def score(self, df: pd.DataFrame, source: str = "table") -> tuple[pd.DataFrame, dict]:
        """Score a table (no target needed).

        Parameters
        ----------
        df : raw table as read (n rows) with the run's id and feature columns (any order;
            extra columns are ignored and listed).
        source : name used in error messages.

        Returns
        -------
        scored : DataFrame (n rows): ``customer_id``, ``segment_id``, ``segment_name``,
            ``segment_confidence``, ``segment_reassigned``, ``propensity``,
            ``propensity_decile`` (1 = top 10% of training scores), ``run_id``.
        report : dict with ``unseen_categories`` and the data-quality summary.

        Raises
        ------
        DataError
            Missing feature column, text in a numeric column, duplicate ids...
        """
        spec, sc = self.spec, self.scoring
        clean, quality = data_mod.validate(df, spec, require_target=False, source=source,
                                           reference_date=sc.get("reference_date"))
        assigned = self.segmenter.assign(clean)
        p, unseen = self.models.predict(clean, spec)
        # A column that was entirely empty at training carries no learned effect: values that
        # arrive now are ignored by name (never shifted onto another column), and said so.
        quality["filled_empty_columns"] = {c: int(clean[c].notna().sum()) for c in sc.get("empty_at_training", [])
                                           if clean[c].notna().any()}
        out = scored_frame(clean[spec.id_column], assigned, self.segment_names, p, self.models.decile_cuts)
        out["run_id"] = self.run_id
        return out, {"unseen_categories": unseen, "quality": quality}


def score(df: pd.DataFrame, run: registry.Run, source: str = "table") -> tuple[pd.DataFrame, dict]:
    """Score a table with a saved run: ``ScoringModel.load(run).score(df, source)``."""
    return ScoringModel.load(run).score(df, source)


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


def quality_notes(quality: dict, unseen: dict) -> list[str]:
    """One plain line per cleaning action the data needed (for the CLI and the app)."""
    notes = []
    if quality.get("extra_columns"):
        notes.append(f"ignored columns not in the spec: {', '.join(quality['extra_columns'])}")
    for col, n in quality.get("inf_to_missing", {}).items():
        notes.append(f"column '{col}': {n} infinite value(s) treated as missing")
    for col, d in quality.get("out_of_range", {}).items():
        action = "set missing" if d["rule"] == "missing" else "clipped to the valid range"
        notes.append(f"column '{col}': {d['count']} value(s) outside the valid range {action}")
    for col, n in unseen.items():
        notes.append(f"column '{col}': {n} value(s) of a category not seen in training scored as missing")
    dup, rows = quality.get("duplicate_feature_rows", 0), quality.get("rows", 0)
    if rows and dup / rows >= 0.05:
        notes.append(f"{dup:,} of {rows:,} rows ({dup / rows:.0%}) repeat another row's features: copies can land in "
                     "both the training and the test rows, so test metrics may be optimistic")
    for col, n in quality.get("filled_empty_columns", {}).items():
        notes.append(f"warning: column '{col}' was empty in the training table; its {n} value(s) now are ignored "
                     "by the model until a retrain")
    return notes
