"""Segments: persona names, sizes, purchase rates and distinctive features."""
import pandas as pd
import plotly.express as px
import streamlit as st

from pages.common import require_run

run = require_run()
profiles = run.json("profiles")

st.title("Segments")
summary = pd.DataFrame([{
    "segment": p["segment_id"], "persona": p["name"], "customers": p["size"], "share": p["share"],
    "purchase rate": p["purchase_rate"],
} for p in profiles])
st.dataframe(summary, hide_index=True, column_config={
    "share": st.column_config.NumberColumn(format="percent"),
    "purchase rate": st.column_config.NumberColumn(format="percent")})

heat = pd.DataFrame({p["name"]: {f: v["std_diff"] for f, v in p["features"].items()} for p in profiles}).T
st.subheader("Profile heatmap (standardized difference from the population)")
st.plotly_chart(px.imshow(heat, color_continuous_scale="RdBu_r", zmin=-2, zmax=2, aspect="auto"))

for p in profiles:
    rate = "" if p["purchase_rate"] is None else f" · {p['purchase_rate']:.1%} bought in the next 30 days"
    with st.expander(f"{p['segment_id']}: {p['name']} — {p['size']:,} customers ({p['share']:.1%}){rate}"):
        rows = [{"feature": f, "segment median": v["median"], "population median": v["pop_median"],
                 "ratio": v["ratio_median"], "std. difference": v["std_diff"]} for f, v in p["features"].items()]
        st.markdown("**Most distinctive:** " + "; ".join(
            f"{t['label']} {t['direction']} ({t['std_diff']:+.2f} sd)" for t in p["top_features"]))
        st.dataframe(pd.DataFrame(rows), hide_index=True)
