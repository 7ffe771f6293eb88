"""Streamlit entry: page registry and the sidebar with the active run and the background jobs.

Run with ``make run`` (or ``streamlit run app.py``). The pages live in ``pages/``, one
file each; their shared helpers are in ``ui.py`` (why a page opened without this frame
hands over to it: :func:`ui.frame`).
"""
import streamlit as st

from core.errors import DataError
from ui import RunView, active_run_id, dataset_picker, jobs_sidebar, settings

st.set_page_config(page_title="ShopSphere customer intelligence", layout="wide")

#: The navigation in three sections: the marketer's pages first (the start page is "This
#: week"), the analysts' pages with the statistics, the admin's.
PAGES = {
    "Marketing": [
        st.Page("pages/week.py", title="This week", default=True),
        st.Page("pages/segments.py", title="Segments"),
        st.Page("pages/matrix.py", title="Segment matrix"),
        st.Page("pages/cohort.py", title="Cohort builder"),
        st.Page("pages/score.py", title="Score a file"),
    ],
    "Analysts": [
        st.Page("pages/overview.py", title="Run overview"),
        st.Page("pages/propensity.py", title="Propensity"),
        st.Page("pages/projection.py", title="Projection"),
        st.Page("pages/approach.py", title="Clustering vs classification"),
    ],
    "Admin": [st.Page("pages/admin.py", title="Admin")],
}

page = st.navigation(PAGES)
with st.sidebar:
    dataset_picker()
    rid = active_run_id()
    st.caption("Active run")
    st.write(f"`{rid}`" if rid else "none yet")
    if rid:
        try:
            man = RunView(rid).manifest()
            st.caption(f"Data set: {man.dataset} ({man.customers:,} customers)")
        except DataError:  # the page says what is wrong with the run
            pass
    st.caption(f"Runs folder: {settings().artifacts_dir}")
    jobs_sidebar()
page.run()
