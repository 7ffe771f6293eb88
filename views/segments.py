"""Segments: persona names, sizes, purchase rates and distinctive features."""
import pandas as pd
import plotly.express as px
import streamlit as st

from views.common import require_run

run = require_run()
profiles = run.json("profiles")
labels = run.feature_labels()
rule_depth = run.json("metrics")["segmentation"].get("surrogate_depth", 4)
rate_col = f"share who {run.target_label}"

st.title("Segments")
method = run.json("manifest")["segmentation_method"]
if "no cluster structure" in method:
    st.warning("This table shows no natural groups (see Overview): these segments are an even KMeans partition. "
               "The names describe each slice's averages, not real personas.")
summary = pd.DataFrame([{
    "segment": p["segment_id"], "persona": p["name"], "customers": p["size"], "share %": 100 * p["share"],
    rate_col + " %": None if p["purchase_rate"] is None else 100 * p["purchase_rate"],
} for p in profiles])
st.dataframe(summary, hide_index=True, column_config={
    "customers": st.column_config.NumberColumn(format="localized"),
    "share %": st.column_config.NumberColumn(format="%.1f"),
    rate_col + " %": st.column_config.NumberColumn(format="%.1f")})

heat = pd.DataFrame({p["name"]: {labels.get(f, f): v["std_diff"] for f, v in p["features"].items()} for p in profiles}).T
st.subheader("Profile heatmap (standardized difference from the population)")
st.plotly_chart(px.imshow(heat, color_continuous_scale="RdBu_r", zmin=-2, zmax=2, aspect="auto"))

for p in profiles:
    rate = "" if p["purchase_rate"] is None else f" · {p['purchase_rate']:.1%} {run.target_label}"
    with st.expander(f"{p['segment_id']}: {p['name']} — {p['size']:,} customers ({p['share']:.1%}){rate}"):
        rows = [{"feature": labels.get(f, f), "segment median": v["median"], "population median": v["pop_median"],
                 "ratio": v["ratio_median"], "std. difference": v["std_diff"]} for f, v in p["features"].items()]
        if p.get("description"):
            st.write(p["description"])
        if p.get("rules") is not None:
            if p["rules"]:
                st.markdown(f"**Rules** (a depth-{rule_depth} decision "
                            f"tree; they reproduce this segment for {p['rule_fidelity']:.0%} of its customers):")
                for r in p["rules"][:4]:
                    st.markdown(f"- {r['text'][0].upper() + r['text'][1:]} — {r['customers']:,} customers, "
                                f"{r['precision']:.0%} of them in this segment")
            else:
                st.markdown("**Rules:** no rule of at most 4 conditions singles this segment out; "
                            "read it from its distinctive features below.")
        st.markdown("**Most distinctive:** " + "; ".join(
            f"{t['label']} {t['direction']} ({t['std_diff']:+.2f} sd)" for t in p["top_features"]))
        st.dataframe(pd.DataFrame(rows), hide_index=True)
