"""Projection: 2-D UMAP of a sample of customers (at most 20,000 points)."""
import plotly.express as px
import streamlit as st

from views.common import require_run, segment_filter

run = require_run()
proj = run.table("projection")

st.title("Projection explorer")
st.caption(f"2-D UMAP of {len(proj):,} sampled customers; positions show similarity in behaviour, the axes have no units.")
color = st.radio("Colour by", ["segment", "propensity"], horizontal=True)
segs = sorted(proj["segment_name"].unique())
chosen = segment_filter(segs)
view = proj[proj["segment_name"].isin(chosen)]
if view.empty:
    st.info("No segment chosen.")
    st.stop()
fig = px.scatter(view, x="x", y="y", color="segment_name" if color == "segment" else "propensity",
                 hover_data={"customer_id": True, "segment_name": True, "propensity": ":.3f", "x": False, "y": False},
                 color_continuous_scale="Viridis", render_mode="webgl", opacity=0.6, height=650,
                 labels={"segment_name": "segment"})
fig.update_traces(marker={"size": 3})
st.plotly_chart(fig)
