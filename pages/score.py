"""Score a file: upload a customer table, preview it, score it with the current run, download."""
from datetime import date

import streamlit as st

from core.data import quality_notes, read_bytes
from core.errors import DataError
from core.scoring import OUTPUT_NAMES
from core.sinks import csv_bytes
from ui import require_run, scoring_model, settings, show_error

run = require_run()
cfg = settings()
model = scoring_model(str(cfg.artifacts_dir), run.run_id)

st.title("Score a file")
st.write(f"Upload a customer table with the columns of the **{model.spec.name}** spec (no target needed); "
         f"every customer gets a segment and a propensity from run `{run.run_id}`. "
         f"Files above {cfg.upload_max_mb} MB: use `python -m core score`.")
# No type filter here: our parser names an unsupported type in a visible message.
up = st.file_uploader("Customer table (CSV, TSV, TXT, Excel .xlsx or Parquet)")
if up is None:
    st.stop()
if up.size > cfg.upload_max_mb * 1024 * 1024:
    st.error(f"{up.name} is {up.size / 1024 / 1024:.1f} MB; the limit here is {cfg.upload_max_mb} MB. "
             "Score it with `python -m core score --data FILE --out OUT`.")
    st.stop()
data = up.getvalue()  # read once; the preview and the parse use these same bytes
try:
    table = read_bytes(data, up.name, model.spec)
except DataError as exc:
    show_error(exc)
    st.stop()
st.write(f"**{up.name}**: {len(table):,} rows, {table.shape[1]} columns")
st.dataframe(table.head(20), hide_index=True)
key = (up.file_id, run.run_id)
if st.button("Score with the current run", type="primary"):
    try:
        scored, report = model.score(table, source=up.name)
    except DataError as exc:
        show_error(exc)
        st.stop()
    # kept in session state so the result stays on screen across reruns (e.g. after a download)
    st.session_state["score_result"] = (key, scored, quality_notes(report["quality"], report["unseen_categories"]))
result = st.session_state.get("score_result")
if result is not None and result[0] == key:
    _, scored, notes = result
    for note in notes:
        st.warning(note)
    st.success(f"Scored {len(scored):,} customers.")
    st.dataframe(scored.head(50), hide_index=True)
    st.download_button("Download scored CSV", csv_bytes(scored.rename(columns=OUTPUT_NAMES)),
                       file_name=f"scored_{run.run_id}_{date.today().isoformat()}.csv", mime="text/csv",
                       on_click="ignore")
