"""Champion and challenger: the monthly retrain with a human gate, and the one entry point
that decides between a first training and a retrain (the CLI's ``train`` and the Admin
page's button both call :func:`train_or_retrain`)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from core.errors import DataError
from core.inputs.log import load_log_spec
from core.inputs.shopsphere_spec import resolve_spec
from core.models import evaluation
from core.models.segmentation import continuity
from core.pipeline.scoring import ScoringModel
from core.pipeline.steps import Progress
from core.pipeline.training import train, train_log
from core.runs import champions, reports, store
from core.runs import results as R
from core.settings import Settings


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


def _dataset_name(spec_path, log: bool) -> str:
    if log:
        return load_log_spec(spec_path).name
    return resolve_spec(spec_path).name


def retrain(data_path: str | Path | None, spec_path: str | Path | None, settings: Settings,
            progress: Progress | None = None, log: bool = False, sheet: str | None = None) -> R.RetrainReport:
    """Monthly retrain with a human gate: train a challenger beside the champion (the current
    run), compare them, and promote the challenger only when configured and not worse.

    Both models score the challenger's held-out test rows (never seen by either): ROC-AUC,
    PR-AUC (average precision), Brier and ECE side by side; the champion is also measured on
    the whole new table (its first look at it). Segment continuity comes from the
    challenger's matching to the champion (:mod:`core.models.segmentation.continuity`: matched ids, new and
    retired segments, the share of customers keeping their segment, the transition matrix).
    The challenger is promoted when ``settings.auto_promote`` and neither ROC-AUC nor PR-AUC
    drops, nor ECE rises, by more than ``settings.promote_tolerance``; otherwise it waits
    for ``python -m core promote RUN_ID`` or the Admin page. The report is saved under
    ``artifacts/monitoring/<challenger>/retrain-*.json``.

    Raises
    ------
    DataError
        No current run to challenge, a challenger of another data set, or anything
        :func:`core.pipeline.training.train` raises (the champion stays current).
    """
    artifacts = settings.artifacts_dir
    name = _dataset_name(spec_path, log)
    champ_id = store.current_run_id(artifacts, name) or store.current_run_id(artifacts)
    if champ_id is None:
        raise DataError(f"no current run in {artifacts} to challenge: train one first (python -m core train)")
    champion = store.load_run(artifacts, champ_id)
    champ_name = champion.spec().name
    if name != champ_name:  # refused before training, not after
        raise DataError(f"the new table is of data set '{name}', the champion {champ_id} of '{champ_name}': retrain on "
                        "the champion's kind of table, or train it with python -m core train")
    if log:  # a transaction log with its log spec (core.inputs.log)
        challenger = train_log(data_path, spec_path, settings, progress, make_current=False)
    else:
        challenger = train(data_path, spec_path, settings, progress, make_current=False, sheet=sheet)
    spec = challenger.spec()
    if spec.name != champion.spec().name:
        raise DataError(f"challenger {challenger.run_id} is of data set '{spec.name}', the champion "
                        f"{champ_id} of '{champion.spec().name}': retrain on the champion's kind of table")
    scored, feats = challenger.table("scored"), challenger.table("features")
    test = (scored["split"] == "test").to_numpy()
    # The champion scores the whole new table once, as the challenger cleaned it (dates already
    # day counts, ids as trained); its test rows are a subset of it.
    p_champ_all = _champion_scores(champion, feats, settings.n_jobs)
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
    statuses = list(link.status.values())
    moves = continuity.transition_summary(link.transitions)
    if decision == "promoted":
        champions.promote(artifacts, challenger.run_id)
    report = R.RetrainReport.from_dict({
        "champion": champ_id, "challenger": challenger.run_id, "test_rows": int(test.sum()),
        "metrics": metrics, "champion_on_new_data": on_new,
        "continuity": {"previous_run": link.previous_run, "matched": statuses.count("matched"),
                       "new": statuses.count("new"), "retired": len(link.retired),
                       "share_keeping_segment": None if moves is None else moves.kept_share,
                       "transitions": link.transitions or []},
        "not_worse": not_worse, "tolerance": tol, "auto_promote": settings.auto_promote,
        "decision": decision, "why": why, "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds")},
        "retrain report")
    path = reports.save_monitoring(artifacts, challenger.run_id, "retrain", report.to_json())
    return report.model_copy(update={"report_path": str(path)})


def _champion_scores(champion: store.Run, feats, n_jobs: int):
    """The champion's calibrated propensity of every row of the challenger's validated
    features table (shape (n,)). Raises DataError naming the champion's features the table
    lacks (a spec that changed between the two runs)."""
    model = ScoringModel.load(champion)
    missing = [c for c in [model.spec.id_column, *model.spec.feature_names] if c not in feats.columns]
    if missing:
        raise DataError(f"the champion {champion.run_id} needs column(s) the new table does not have: "
                        f"{', '.join(missing[:5])}; retrain with the champion's spec, or train a new run")
    return model.score_validated(feats, {}, n_jobs)[0]["propensity"].to_numpy(float)


@dataclass
class TrainOutcome:
    """What :func:`train_or_retrain` did: the new run, and the retrain report when the new run
    was a challenger (None when it was trained and made current)."""

    run: store.Run
    retrain: R.RetrainReport | None = None


def train_or_retrain(data_path: str | Path | None, spec_path: str | Path | None, settings: Settings,
                     progress: Progress | None = None, log: bool = False, sheet: str | None = None) -> TrainOutcome:
    """Train a new run, safely for the current one.

    With a current run of the same data set (spec name; each data set has its own,
    :func:`core.runs.store.current_run_id`), the new run is a challenger
    (:func:`retrain`: compared with the champion on its test rows, promoted only when
    ``auto_promote`` is on and it is not worse); otherwise (no run of that data set, or a
    current run that cannot be read: another version, damaged) the new run is trained and
    made its data set's current run (the default one only when it is of the default data set
    or the first run: training another table does not change what other users see). With ``log``, ``data_path``
    is a transaction log and ``spec_path`` its log spec (:func:`core.pipeline.training.train_log`);
    ``sheet`` picks the sheet of an Excel workbook.

    Raises
    ------
    DataError
        As :func:`core.pipeline.training.train` and :func:`retrain`.
    """
    artifacts = settings.artifacts_dir
    current = store.current_run_id(artifacts, _dataset_name(spec_path, log))
    try:  # a current run that cannot be read (another version, damaged) is no champion to compare with
        champion = store.load_run(artifacts, current) if current else None
        if champion is not None:
            champion.spec()
    except DataError:
        champion = None
    if champion is not None and champion.spec().name == _dataset_name(spec_path, log):
        report = retrain(data_path, spec_path, settings, progress, log, sheet)
        return TrainOutcome(store.load_run(artifacts, report.challenger), report)
    if log:
        return TrainOutcome(train_log(data_path, spec_path, settings, progress))
    return TrainOutcome(train(data_path, spec_path, settings, progress, sheet=sheet))
