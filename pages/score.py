"""Score a file: upload a customer table, preview it, score it with the current run as a
background job (:func:`core.actions.jobs.start_scoring`: it goes on if the page is left),
download the result."""
from datetime import date
from pathlib import Path

import pandas as pd
import streamlit as st

from core.actions import jobs, uploads, views
from core.errors import DataError
from ui import job_line, require_run, settings, show_error, start_job

run = require_run()
cfg = settings()
spec = run.spec()

st.title("Score a file")
st.write(f"Upload a customer table with the columns of the **{spec.name}** spec (no target needed); "
         f"every customer gets a segment and a propensity from run `{run.run_id}`. The scoring runs as a job of its "
         f"own: you can leave the page and come back for the result. Files above {cfg.upload_max_mb} MB: use "
         "`python -m core score`.")


@st.cache_resource(show_spinner=False, max_entries=16)
def _preview(parquet: str, stamp: int) -> pd.DataFrame:
    """The first 50 scored rows of a finished job, read once (``stamp``: the file's mtime),
    not on every 2-second redraw of the fragment."""
    return pd.read_parquet(parquet).head(50)


@st.fragment(run_every=2)
def _scoring(job_id: str, where: str) -> None:
    """A scoring job's state; when done, its notes, a preview and the download (refreshed every 2 s)."""
    try:
        job = jobs.read_job(cfg, job_id)
    except DataError as exc:
        show_error(exc)
        return
    if job.active:
        st.progress(job.fraction, text=job_line(job))
        return
    if job.status != "done":
        (st.warning if job.status == "cancelled" else st.error)(job_line(job))
        return
    for note in job.notes:  # data-quality notes and where the scores went in the activation database
        (st.caption if note.startswith("wrote ") else st.warning)(note)
    st.success(job.outcome or "Scored.")
    out = Path(job.output)
    preview = out.with_suffix(".parquet")
    if not (preview.is_file() and out.is_file()):
        st.warning(f"The scored file {out.name} is no longer on the server: score the table again.")
        return
    st.dataframe(_preview(str(preview), preview.stat().st_mtime_ns), hide_index=True)
    # the CSV is read when the button is clicked (a callable), not on every redraw
    st.download_button("Download scored CSV", lambda: out.read_bytes(), key=f"dl_{where}_{job_id}",
                       file_name=f"scored_{job.run_id}_{date.today().isoformat()}.csv", mime="text/csv",
                       on_click="ignore")


# No type filter here: our parser names an unsupported type in a visible message.
up = st.file_uploader("Customer table (CSV, TSV, TXT, Excel .xlsx or Parquet)")
if up is not None:
    if up.size > cfg.upload_max_mb * 1024 * 1024:
        st.error(f"{up.name} is {up.size / 1024 / 1024:.1f} MB; the limit here is {cfg.upload_max_mb} MB. "
                 "Score it with `python -m core score --data FILE --out OUT`.")
        st.stop()
    data = up.getvalue()  # read once; the preview and the kept copy use these same bytes
    try:
        table = views.read_upload(data, up.name, spec)
    except DataError as exc:
        show_error(exc)
        st.stop()
    st.write(f"**{up.name}**: {len(table):,} rows, {table.shape[1]} columns")
    st.dataframe(table.head(20), hide_index=True)
    key = (up.file_id, run.run_id)
    if st.button("Score with the current run", type="primary"):
        try:  # the job reads the file from the server's copy, kept under uploads/
            path = uploads.keep_for_scoring(cfg, data, up.name)
        except DataError as exc:
            show_error(exc)
            st.stop()
        job = start_job(jobs.start_scoring, path, up.name, run.run_id)
        if job is not None:
            st.session_state["score_job"] = (key, job.job_id)
    mine = st.session_state.get("score_job")
    if mine is not None and mine[0] == key:
        _scoring(mine[1], "now")

shown = (st.session_state.get("score_job") or (None, None))[1]
recent = [j for j in jobs.list_jobs(cfg, limit=50) if j.kind == "score" and j.job_id != shown][:5]
if recent:
    st.subheader("Recent scorings")
    for j in recent:
        with st.expander(job_line(j), expanded=False):
            _scoring(j.job_id, "recent")
