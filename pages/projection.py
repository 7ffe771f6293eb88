"""Projection explorer: 2-D UMAP of a sample of customers stratified by segment (at most
20,000 points; see ``core.models.segmentation``), coloured by segment, propensity or any input
feature; hover shows the customer's segment, propensity and the model's most important
features."""
import plotly.express as px
import streamlit as st

from ui import cached_figure, require_run, segment_filter

NOT_RECORDED = "not recorded"
HOVER_FEATURES = 4  # the propensity model's most important features shown on hover

run = require_run()
proj = run.table("projection")
labels = run.feature_labels()
features = run.table("features")
proj = proj.merge(features.rename(columns={run.spec().id_column: "customer_id"}), on="customer_id", how="left")
feature_cols = [c for c in labels if c in proj.columns]

st.title("Projection explorer")
total = run.manifest().rows
st.caption(f"2-D UMAP of {len(proj):,} customers" + (f", a sample of the {total:,} stratified by segment (small "
           "segments get more points than their share, so they can be seen)" if len(proj) < total else "")
           + "; nearby points behave alike, the axes have no units.")
c = st.columns([1, 2])
colour = c[0].radio("Colour by", ["segment", "propensity", "a feature"], horizontal=True)
feature = None
if colour == "a feature":
    feature = c[1].selectbox("Feature", feature_cols, format_func=lambda f: labels.get(f, f))
segs = sorted(proj["segment_name"].unique())
chosen = segment_filter(run, segs)
view = proj[proj["segment_name"].isin(chosen)]
if view.empty:
    st.info("No segment chosen.")
    st.stop()

key = [f for f in run.table("importance")["feature"] if f in feature_cols][:HOVER_FEATURES]
colour_col = {"segment": "segment_name", "propensity": "propensity"}.get(colour, feature)
numeric_feature = feature is not None and view[feature].dtype.kind in "fiub"
missing = view[view[feature].isna()] if numeric_feature else view.iloc[0:0]


def _figure():
    shown = view
    if numeric_feature:
        shown = view[view[feature].notna()]
    elif feature is not None:
        shown = view.assign(**{feature: view[feature].astype("string").fillna(NOT_RECORDED)})
    hover = {"customer_id": True, "segment_name": True, "propensity": ":.3f", "x": False, "y": False}
    hover.update({f: True for f in key})
    fig = px.scatter(shown, x="x", y="y", color=colour_col, hover_data=hover,
                     color_discrete_map={NOT_RECORDED: "lightgrey"},
                     color_continuous_scale="Viridis", render_mode="webgl", opacity=0.6, height=650,
                     labels={"segment_name": "segment", **{f: labels.get(f, f) for f in feature_cols}})
    fig.update_traces(marker={"size": 3})
    if len(missing):
        fig.add_scattergl(x=missing["x"], y=missing["y"], mode="markers", name="not recorded", showlegend=True,
                          marker={"size": 3, "color": "lightgrey"}, hoverinfo="skip")
    fig.update_layout(legend={"itemsizing": "constant"})  # legend dots readable despite size-3 markers
    fig.update_xaxes(showticklabels=False, title=None)
    fig.update_yaxes(showticklabels=False, title=None)
    return fig


fig = cached_figure((str(run.artifacts), run.run_id, "projection", colour_col, tuple(sorted(chosen))), _figure)
st.plotly_chart(fig)
n_blank = int(view[feature].isna().sum()) if feature is not None else 0
if n_blank:
    st.caption(f"{n_blank:,} of these customers have no {labels.get(feature, feature)} recorded; they are "
               "drawn in light grey.")
