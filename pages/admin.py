"""Admin: retrain, upload a table with a column mapping and see its validation report, run
history with promote and roll back, background jobs with their logs. Behind the admin
password (Streamlit secret ``admin_password`` or environment variable
``SHOPSPHERE_ADMIN_PASSWORD``, compared in constant time with ``hmac.compare_digest``),
asked once per session, with progressive delays after wrong tries (``ui.admin_gate``).
With no password set, admin actions are allowed only while the server listens on
localhost (the default in ``.streamlit/config.toml``).

Training runs as a background job (:func:`core.actions.jobs.start_training`: its own
process, calling :func:`core.actions.training.train`, the use case behind the CLI's
``train``), so it goes on when the page is left, the browser closed or the server
restarted; its progress is in the sidebar of every page and on the Jobs tab, where it can
be cancelled. An uploaded file is only ever parsed as a table and, once mapped and checked
(:func:`core.actions.training.check_table`, as the CLI's ``check``), saved as Parquet under
``<artifacts>/uploads/`` for training (:func:`core.actions.uploads.train_on_table`). An
uploaded transaction log is kept as sent, read with the chosen log spec, its snapshots
shown (:func:`core.actions.uploads.check_log`), and trained on as ``train --log``. A job
that does not finish removes the upload it was given.
"""
import pandas as pd
import streamlit as st

from core.actions import jobs, runs, scoring, training, uploads, views
from core.errors import DataError
from ui import (
    RunView,
    active_run_id,
    admin_gate,
    admin_password,
    clear_caches,
    data_sets,
    frame,
    job_line,
    server_is_local,
    settings,
    show_error,
    start_job,
)

NOT_IN_FILE = "(not in this file)"
DRAFT = "(none: draft a spec from the table)"
UPLOAD_TYPES = ["csv", "tsv", "txt", "xlsx", "parquet"]

frame()
st.title("Admin")
secret = admin_password()
if secret:
    admin_gate(secret)
    if st.button("Log out of the Admin page", key="admin_logout"):
        st.session_state.pop("admin_ok", None)
        st.rerun()
elif server_is_local():
    st.info("No admin password is set (Streamlit secret `admin_password` or environment variable "
            "`SHOPSPHERE_ADMIN_PASSWORD`): admin actions are allowed because this server only listens on localhost.")
else:
    st.error(f"This server listens on {st.get_option('server.address') or 'all addresses'} and no admin password is "
             "set: admin actions are disabled. Set the Streamlit secret `admin_password` or the environment variable "
             "`SHOPSPHERE_ADMIN_PASSWORD`.")
    st.stop()

cfg = settings()
st.write(f"Current run: `{active_run_id() or 'none'}`")
if st.session_state.get("admin_message"):  # set by promote / roll back before their rerun
    st.success(st.session_state.pop("admin_message"))


def _started(job) -> bool:
    """Say that a training job started (the Jobs tab opens on it); False when it was refused."""
    if job is None:
        return False
    st.session_state["job_pick"] = job.job_id  # the Jobs tab opens on it
    st.success(f"Training started as job {job.job_id}, in a process of its own: leave this page or close the browser "
               "as you like. Its progress is in the sidebar and on the Jobs tab, where it can be cancelled.")
    return True


def _change_current(change, message) -> None:
    """Run a promote or roll back (``change()``, a :class:`core.actions.runs.RunChange`); on
    success say ``message(change)`` after a rerun, so the sidebar, the tables and every page
    show the new current run."""
    try:
        result = change()
    except DataError as exc:
        show_error(exc)
        return
    clear_caches()
    said = message(result)
    if result.database_error:  # the activation database's scores_current follows the current run
        said += f" Warning: {result.database_error}."
    st.session_state["admin_message"] = said
    st.rerun()


def _show_retrain(r, where: str) -> None:
    """A retrain report (:class:`core.runs.results.RetrainReport`): champion vs challenger on the
    challenger's test rows, continuity, the decision, and a promote button while the
    challenger waits for approval (``where``: the tab showing it, for the button's key)."""
    st.subheader(f"Champion {r.champion} vs challenger {r.challenger}")
    rows = [{"model": k, **{m: round(v, 4) for m, v in r.metrics[k].items()}} for k in ("champion", "challenger")]
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    c = r.continuity
    kept = "n/a" if c.share_keeping_segment is None else f"{c.share_keeping_segment:.1%}"
    st.caption(f"On the challenger's {r.test_rows:,} held-out test rows. Segments: {c.matched} matched, "
               f"{c.new} new, {c.retired} retired; {kept} of customers keep their segment.")
    moves = views.transition_summary(c.transitions)
    if moves is not None:
        st.caption("Transitions: the champion's segment (rows) to the challenger's (columns)")
        st.dataframe(moves.matrix)
    decision = r.decision
    (st.success if decision == "promoted" else st.warning if decision == "kept champion" else st.info)(
        f"Decision: {decision} ({r.why}).")
    if decision != "promoted" and active_run_id() != r.challenger:
        if st.button(f"Promote challenger {r.challenger}", key=f"promote_challenger_{where}"):
            _change_current(lambda: runs.promote(cfg, r.challenger),
                            lambda ch: f"Run {ch.current} is now current (was {ch.previous or 'none'}).")


def _retrain_report(run_id: str, where: str) -> None:
    """The retrain report of a challenger run, when it has one (``monitoring/<run>/retrain-*``)."""
    try:
        report = views.retrain_report(cfg, run_id)
    except DataError as exc:
        show_error(exc)
        return
    if report is not None:
        _show_retrain(report, where)


def _upload_log_tab() -> None:
    """Upload a transaction log, read it with a log spec, see its snapshots, train."""
    specs = views.log_specs()
    if not specs:
        st.info("No log spec in configs/ (a TOML with kind = \"log\"; see configs/cdnow.toml).")
        return
    spec_label = st.selectbox("The log follows the log spec", list(specs), key="log_spec")
    up = st.file_uploader(f"Transaction log (CSV, TSV, TXT or Parquet; at most {cfg.upload_max_mb} MB)",
                          type=UPLOAD_TYPES, key="log_upload")
    if up is None:
        return
    if up.size > cfg.upload_max_mb * 1024 * 1024:
        st.error(f"{up.name} is {up.size / 1024 / 1024:.1f} MB; the limit here is {cfg.upload_max_mb} MB "
                 "(setting upload_max_mb). Train on it with `python -m core train --log FILE --spec SPEC`.")
        return
    key = (up.file_id, spec_label)
    if st.session_state.get("log_check", (None,))[0] != key:  # read once per file and spec, not on every rerun
        try:  # kept as sent (a log is read from a file), removed again when it does not read
            st.session_state["log_check"] = (key, uploads.check_log(cfg, up.getvalue(), up.name, specs[spec_label]))
        except DataError as exc:
            show_error(exc)
            return
    checked = st.session_state["log_check"][1]
    c = st.columns(4)
    c[0].metric("Lines", f"{checked.lines:,}")
    c[1].metric("Customers", f"{checked.customers:,}")
    c[2].metric("First day", checked.first)
    c[3].metric("Last day", checked.last)
    st.write(f"Snapshots at {len(checked.cutoffs)} cutoffs, label window {checked.horizon_days} days:")
    st.code("\n".join(checked.windows), language=None)
    for note in checked.notes:
        st.warning(note)
    if st.button("Train a new run on this log", type="primary"):
        # a job that does not finish removes the upload (a failed upload is not kept)
        _started(start_job(uploads.train_on_log, checked, specs[spec_label], up.name))
        st.session_state.pop("log_check", None)


retrain_tab, upload, upload_log, jobs_tab, history, monitor = st.tabs(
    ["Retrain", "Upload a table", "Upload a log", "Jobs", "Run history", "Monitoring"])

with retrain_tab:
    st.write("Train a new run on a file already on the server, as a background job (a few minutes for the default "
             "240,000 customers): it goes on when you leave this page. With a current run of the same "
             "data set, the new run is a challenger: compared with the champion and promoted only when the settings "
             "allow it (auto_promote) and it is not worse; otherwise it waits for your approval on the Jobs tab or "
             "on Run history.")
    data = st.text_input("Data file (CSV or Parquet); empty = the default ShopSphere table", "")
    specs = views.table_specs()
    spec_label = st.selectbox("Spec", list(specs), key="retrain_spec")
    if st.button("Train a new run", type="primary"):
        _started(start_job(jobs.start_training, data or None, specs[spec_label], data or "the default table"))

def _drafted_spec(raw: pd.DataFrame, name: str):
    """The spec drafted from an uploaded table (:func:`core.actions.uploads.draft`), with a
    form where the target, the id and each column's kind, group and use can be changed, and
    a button that saves it to ``configs/``. Returns ``(spec, its TOML text)`` or None when
    the draft cannot be made (the reason is shown)."""
    columns = [str(c) for c in raw.columns]
    stem = "".join(ch if ch.isalnum() else "_" for ch in name.rsplit(".", 1)[0]).strip("_") or "table"
    c = st.columns(2)
    guessed = uploads.guess_target(raw, name)
    target = c[0].selectbox("Target (what the model predicts)", columns,
                            index=columns.index(guessed) if guessed in columns else 0, key="draft_target")
    ids = ["(row number)"] + [col for col in columns if col != target]
    found = uploads.guess_id(raw, target, name)
    id_pick = c[1].selectbox("Customer id", ids, index=ids.index(found) if found in ids else 0, key="draft_id")
    try:
        draft = uploads.draft(raw, target, None if id_pick == ids[0] else id_pick, stem, name)
    except DataError as exc:
        show_error(exc)
        return None
    for line in draft.decisions:
        st.caption(line)
    st.write("The drafted columns: change a kind, a group or whether a column is used, and the words people will "
             "read: the label, and the words a segment's name uses when it is high or low on the column.")
    edited = st.data_editor(uploads.draft_choices(draft), hide_index=True, key=f"draft_cols_{name}_{target}_{id_pick}",
                            disabled=["column", "note"], column_config={
                                "kind": st.column_config.SelectboxColumn(options=list(views.KINDS), required=True),
                                "group": st.column_config.SelectboxColumn(options=list(views.GROUPS), required=True),
                                "use": st.column_config.CheckboxColumn(),
                                "label": st.column_config.TextColumn(max_chars=60),
                                "high words": st.column_config.TextColumn(max_chars=40, help="e.g. Big spenders on wine"),
                                "low words": st.column_config.TextColumn(max_chars=40, help="e.g. Low spenders on wine")})
    try:
        draft = uploads.apply_draft_choices(draft, edited)
    except DataError as exc:
        show_error(exc)
        return None
    text = uploads.draft_toml(draft, name)
    if st.button(f"Save this spec as configs/{stem}.toml", help="Then it is offered in the spec lists and to the CLI."):
        try:
            st.success(f"Saved {uploads.save_spec(text, stem)}.")
        except DataError as exc:
            show_error(exc)
    return draft.spec, text


def _read_upload(spec_label: str):
    """The uploaded table (its file, bytes and table as read), or None (the reason shown)."""
    up = st.file_uploader(f"Customer table with the target (CSV, TSV, TXT, Excel .xlsx or Parquet; at most "
                          f"{cfg.upload_max_mb} MB)", type=UPLOAD_TYPES, key="table_upload")
    if up is None:
        return None
    if up.size > cfg.upload_max_mb * 1024 * 1024:
        st.error(f"{up.name} is {up.size / 1024 / 1024:.1f} MB; the limit here is {cfg.upload_max_mb} MB "
                 "(setting upload_max_mb). Train on it with `python -m core train --data FILE`.")
        return None
    raw_bytes = up.getvalue()
    try:
        raw = views.read_upload(raw_bytes, up.name)
    except DataError as exc:
        show_error(exc)
        return None
    st.write(f"**{up.name}**: {len(raw):,} rows, {raw.shape[1]} columns.")
    st.dataframe(raw.head(10), hide_index=True)
    return up, raw_bytes, raw


def _mapping(raw: pd.DataFrame, spec) -> dict | None:
    """The form that maps the file's columns to the spec; the mapping once it is submitted."""
    guess = uploads.guess_mapping(raw.columns, spec)
    labels = {spec.id_column: "customer id", **({spec.target: spec.target_label} if spec.target else {}),
              **{c.name: c.label or c.name for c in spec.columns}}
    options = [NOT_IN_FILE] + [str(c) for c in raw.columns]
    with st.form("mapping"):
        st.write("Map the file's columns to the spec (pre-filled where the names match).")
        cols = st.columns(3)
        mapping = {}
        for i, name in enumerate(guess):
            pick = cols[i % 3].selectbox(f"{name} ({labels[name]})", options,
                                         index=options.index(guess[name] or NOT_IN_FILE), key=f"map_{name}")
            mapping[name] = None if pick == NOT_IN_FILE else pick
        checked = st.form_submit_button("Check the table")
    return mapping if checked else None


def _report(check, spec, name: str) -> None:
    """The validation report of a checked upload: rows, positive rate, notes, missing values."""
    q = check.quality
    c = st.columns(3)
    c[0].metric("Rows", f"{q['rows']:,}")
    c[1].metric("Positive rate", f"{check.positives / max(check.positives + check.negatives, 1):.1%}",
                help=f"Share of customers who {spec.target_label}.")
    c[2].metric("Duplicate feature rows", f"{q['duplicate_feature_rows']:,}")
    for note in check.notes:
        st.warning(note)
    if not check.notes:
        st.success("No cleaning was needed.")
    miss = pd.Series(q["missing_share"], name="missing share").rename_axis("column").reset_index()
    st.dataframe(miss, hide_index=True, column_config={
        "missing share": st.column_config.ProgressColumn(format="percent", min_value=0, max_value=1)})
    current = active_run_id()
    if current and st.button("Check drift against the current run"):
        try:
            d = scoring.drift(cfg, check.table, run_id=current, source=name)
        except DataError as exc:
            show_error(exc)
        else:
            st.success(f"Drift report saved ({d.path.name}); it is shown on the Monitoring tab.")


def _upload_tab() -> None:
    """Upload, map the columns to a spec (or draft one from the table), check, train."""
    specs = views.table_specs()
    spec_label = st.selectbox("The table follows the spec", list(specs) + [DRAFT], key="upload_spec",
                              help="No spec fits? The last choice drafts one from the table, to check and change.")
    spec = None
    if spec_label != DRAFT:
        try:
            spec = uploads.table_spec(specs.get(spec_label))
        except DataError as exc:
            show_error(exc)
            return
    got = _read_upload(spec_label)
    if got is None:
        return
    up, raw_bytes, raw = got
    drafted_text = None
    if spec_label == DRAFT:
        drafted = _drafted_spec(raw, up.name)
        if drafted is None:
            return
        spec, drafted_text = drafted
        spec_label = f"{DRAFT} {uploads.spec_key(spec)}"  # a changed draft is checked again
    mapping = _mapping(raw, spec)
    if mapping is not None:
        try:
            st.session_state["upload_check"] = (up.file_id, spec_label, training.check_table(raw, spec, up.name,
                                                                                              settings(), mapping))
        except DataError as exc:
            show_error(exc)
            return
    state = st.session_state.get("upload_check")
    if state is None or state[:2] != (up.file_id, spec_label):
        return
    check = state[2]
    st.subheader("Validation report")
    _report(check, spec, up.name)
    if not check.trainable:
        st.error(f"{check.why}; training is not offered.")
        return
    if st.button("Train a new run on this table", type="primary"):
        # a job that does not finish removes the upload and its drafted spec
        _started(start_job(uploads.train_on_table, check.table, spec, specs.get(spec_label), raw_bytes, up.name,
                           drafted_text=drafted_text))


def _history_tab() -> None:
    """Run history, a run's segments, promote and roll back."""
    run_table = views.run_history(cfg)
    if run_table.empty:
        st.info("No runs yet.")
        return
    st.dataframe(run_table, hide_index=True, column_config={
        "current": st.column_config.CheckboxColumn("current"),
        "roc_auc": st.column_config.NumberColumn("ROC-AUC", format="%.3f"),
        "pr_auc": st.column_config.NumberColumn("PR-AUC", format="%.3f"),
        "stability": st.column_config.NumberColumn("stability (ARI)", format="%.2f")})
    rid = st.selectbox("Run", run_table["run_id"], help="Its segments are shown below; the table marks the current run.")
    try:
        segs = pd.DataFrame([p.model_dump(include={"segment_id", "name", "size", "share", "purchase_rate"})
                             for p in RunView(rid).profiles()])
    except DataError as exc:  # a run of another version: listed, not readable
        show_error(exc)
        segs = pd.DataFrame()
    st.dataframe(segs, hide_index=True, column_config={
        "share": st.column_config.NumberColumn(format="percent"),
        "purchase_rate": st.column_config.NumberColumn("purchase rate", format="percent")})
    _retrain_report(rid, "history")  # a challenger: how it compared with its champion, and promote it
    dataset = run_table.loc[run_table["run_id"] == rid, "dataset"].iloc[0]
    dataset = dataset if isinstance(dataset, str) else None
    current_of_set = data_sets().get(dataset) if dataset else None
    make_default = st.checkbox("Also make its data set the one everybody sees first", value=False,
                               help="Off: the run becomes current for its data set only; users pick the data set in "
                                    "the sidebar. The default data set is the first one there.")
    c = st.columns(2)
    if c[0].button("Promote this run", disabled=rid == current_of_set and not make_default):
        _change_current(lambda: runs.promote(cfg, rid, make_default=make_default),
                        lambda ch: f"Run {ch.current} is now current for {ch.dataset}"
                                   f"{' and the default' if ch.default else ''} (was {ch.previous or 'none'}).")
    can_roll_back = views.can_roll_back(cfg, dataset)
    if c[1].button("Roll back to the previous champion", disabled=not can_roll_back,
                   help=None if can_roll_back else f"There is no earlier champion of {dataset} to return to."):
        _change_current(lambda: runs.rollback(cfg, dataset),
                        lambda ch: f"Rolled back: run {ch.current} is current for {ch.dataset}.")
    log = views.champion_history(cfg)
    if log:
        st.caption("Changes of the current run, newest first")
        st.dataframe(pd.DataFrame(log[::-1]), hide_index=True)


def _backtests(current: str) -> None:
    """The current run's backtests: a past scoring against realised outcomes."""
    saved = views.monitoring_reports(cfg, current, "backtest")
    st.subheader("Backtests")
    if not saved:
        st.info("No backtest of the current run yet: once the 30 days have passed, run `python -m core backtest "
                "--scores SCORED --outcomes OUTCOMES`.")
        return
    pick = st.selectbox("Backtest", saved, format_func=lambda p: p.stem)
    r = views.read_report(pick)
    c = st.columns(4)
    c[0].metric("ROC-AUC", f"{r['roc_auc']:.3f}", help=f"95% CI [{r['roc_auc_ci'][0]:.3f}, {r['roc_auc_ci'][1]:.3f}]")
    c[1].metric("PR-AUC", f"{r['pr_auc']:.3f}", help=f"average precision; 95% CI [{r['pr_auc_ci'][0]:.3f}, "
                                                   f"{r['pr_auc_ci'][1]:.3f}]")
    c[2].metric("Realised rate", f"{r['base_rate']:.1%}", f"{r['base_rate'] - r['mean_predicted']:+.1%} vs predicted")
    c[3].metric("Customers with an outcome", f"{r['rows']['with_outcome']:,}")
    st.dataframe(pd.DataFrame(r["deciles"]), hide_index=True, column_config={
        "predicted": st.column_config.NumberColumn(format="percent"),
        "realised": st.column_config.NumberColumn(format="percent")})


def _monitoring_tab() -> None:
    """The current run's drift reports (PSI per feature, score and segment shares) and backtests."""
    current = active_run_id()
    if current:
        _backtests(current)
    st.subheader("Drift")
    saved = views.monitoring_reports(cfg, current, "drift") if current else []
    st.write("Drift of a new table against the current run's training table: population stability index (PSI) per "
             "feature (training deciles, categories and missing values as bins), of the score, and of segment "
             "shares. 0.1 and above: watch; 0.25 and above: act. Run one from the Upload tab or with "
             "`python -m core drift --data FILE`.")
    if not saved:
        st.info("No drift report for the current run yet.")
        return
    pick = st.selectbox("Report", saved, format_func=lambda p: p.stem)
    r = views.read_report(pick)
    c = st.columns(4)
    c[0].metric("Features to act on", r["summary"]["act"], help="PSI >= 0.25")
    c[1].metric("Features to watch", r["summary"]["watch"], help="0.1 <= PSI < 0.25")
    c[2].metric("Score PSI", f"{r['score']['psi']:.3f}", help=f"mean propensity {r['score']['mean_train']:.3f} at "
                                                             f"training, {r['score']['mean_new']:.3f} now")
    c[3].metric("Segment shares PSI", f"{r['segments_psi']:.3f}")
    st.caption(f"{r['source']}: {r['rows']['new']:,} rows against {r['rows']['train']:,} training rows, "
               f"checked {r['created_at']}.")
    feats = pd.DataFrame(r["features"])[["feature", "label", "psi", "flag", "missing_train", "missing_new"]]
    st.dataframe(feats, hide_index=True, column_config={
        "psi": st.column_config.NumberColumn("PSI", format="%.3f"),
        "missing_train": st.column_config.NumberColumn("missing at training", format="percent"),
        "missing_new": st.column_config.NumberColumn("missing now", format="percent")})
    segs = pd.DataFrame(r["segments"]).assign(name=lambda d: d["segment_id"].map(RunView(current).segment_names()))
    st.dataframe(segs[["segment_id", "name", "share_train", "share_new", "change"]], hide_index=True, column_config={
        "share_train": st.column_config.NumberColumn("share at training", format="percent"),
        "share_new": st.column_config.NumberColumn("share now", format="percent"),
        "change": st.column_config.NumberColumn(format="percent")})


@st.fragment(run_every=2)
def _job_detail(job_id: str) -> None:
    """One job: its state, the end of its log, a cancel button while it runs, and for a
    finished training that made a challenger, the retrain report (promote from there);
    refreshed every 2 s."""
    try:
        job = jobs.read_job(cfg, job_id)
    except DataError as exc:
        show_error(exc)
        return
    box = {"done": st.success, "failed": st.error, "interrupted": st.error, "cancelled": st.warning}.get(job.status)
    if box is None:
        st.progress(job.fraction, text=job_line(job))
    else:
        box(job_line(job))
    st.caption(f"Job {job.job_id}: {job.kind}, started by {job.requested_by} at {job.created_at}"
               + (f", finished {job.finished_at}" if job.finished_at else ""))
    for note in job.notes:  # what the data needed, where the run's scores went in the database (or why not)
        (st.warning if note.startswith("warning") else st.caption)(note)
    if job.active and st.button("Cancel this job", key=f"cancel_{job_id}"):
        try:
            jobs.cancel_job(cfg, job_id)
        except DataError as exc:
            show_error(exc)
        else:
            st.info("Asked the job to stop; the current run stays as it is.")
    if job.status == "done" and job.kind == "train" and job.run_id:
        _retrain_report(job.run_id, "job")
    st.code(jobs.job_log(cfg, job_id, tail=40) or "(nothing printed yet)", language=None)


def _jobs_tab() -> None:
    """Every background job of the runs folder, newest first, and one job in detail."""
    rows = jobs.list_jobs(cfg, limit=100)
    if not rows:
        st.info("No jobs yet: training started here, and scoring started on the Score page, run as jobs.")
        return
    table = pd.DataFrame([{"job": j.job_id, "kind": j.kind, "what": j.label, "status": j.status,
                           "progress": j.fraction, "step or result": job_line(j).split(": ", 1)[-1],
                           "started by": j.requested_by, "created": j.created_at} for j in rows])
    st.dataframe(table, hide_index=True, column_config={
        "progress": st.column_config.ProgressColumn(format="percent", min_value=0, max_value=1)})
    ids = [j.job_id for j in rows]
    if st.session_state.get("job_pick") not in ids:  # none chosen yet, or an old one since deleted
        st.session_state["job_pick"] = ids[0]
    pick = st.selectbox("Job", ids, key="job_pick")
    _job_detail(pick)


with upload:
    _upload_tab()
with upload_log:
    _upload_log_tab()
with jobs_tab:
    _jobs_tab()
with history:
    _history_tab()
with monitor:
    _monitoring_tab()
