"""Admin: retrain with progress (the same core.pipeline.train as the CLI)."""
import streamlit as st

from core.errors import DataError
from core.pipeline import train
from views.common import active_run_id, settings, show_error

st.title("Admin: retrain")
st.write(f"Current run: `{active_run_id() or 'none'}`")
data = st.text_input("Data file (CSV or Parquet); empty = the default ShopSphere table", "")
spec = st.text_input("Spec file (TOML); empty = built-in ShopSphere spec", "")
if st.button("Train a new run", type="primary"):
    bar = st.progress(0.0, "starting")
    try:
        run = train(data or None, spec or None, settings(), progress=lambda f, msg: bar.progress(min(f, 1.0), msg))
    except DataError as exc:
        show_error(exc)
    else:
        st.cache_data.clear()
        st.success(f"Run {run.run_id} trained and made current.")
