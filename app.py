"""Streamlit entry: page registry and the sidebar with the active run.

Run with ``make run`` (or ``streamlit run app.py``).
"""
import streamlit as st

from views.common import RunView, active_run_id, settings

st.set_page_config(page_title="ShopSphere customer intelligence", layout="wide")

PAGES = [
    st.Page("views/overview.py", title="Overview", default=True),
    st.Page("views/segments.py", title="Segments"),
    st.Page("views/projection.py", title="Projection"),
    st.Page("views/propensity.py", title="Propensity"),
    st.Page("views/matrix.py", title="Segment matrix"),
    st.Page("views/cohort.py", title="Cohort builder"),
    st.Page("views/approach.py", title="Clustering vs classification"),
    st.Page("views/score.py", title="Score a file"),
    st.Page("views/admin.py", title="Admin"),
]

with st.sidebar:
    rid = active_run_id()
    st.caption("Active run")
    st.write(f"`{rid}`" if rid else "none yet")
    if rid:
        man = RunView(rid).json("manifest")
        st.caption(f"Data set: {man['dataset']} ({man['rows']:,} customers)")
    st.caption(f"Runs folder: {settings().artifacts_dir}")

st.navigation(PAGES).run()
