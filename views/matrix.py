"""Segment x propensity-decile matrix."""
import plotly.express as px
import streamlit as st

from views.common import require_run, segment_filter

MIN_TEST_CUSTOMERS = 30  # observed rates on fewer test customers are too noisy to colour

run = require_run()
m = run.table("matrix")
if "observed_rate_test" in m:
    m = m.assign(observed_rate_test=m["observed_rate_test"].where(m["test_customers"] >= MIN_TEST_CUSTOMERS))

st.title("Propensity by segment")
chosen = segment_filter(sorted(m["segment_name"].unique()))
m = m[m["segment_name"].isin(chosen)]
if m.empty:
    st.info("No segment chosen.")
    st.stop()
value = st.selectbox("Cell value", ["customers", "mean_propensity", "expected_buyers", "observed_rate_test"])
m = m.assign(segment=m["segment_id"].astype(str) + ": " + m["segment_name"])
grid = m.pivot_table(index=["segment_id", "segment"], columns="propensity_decile", values=value,
                     aggfunc="sum" if value in ("customers", "expected_buyers") else "mean")
grid = grid.droplevel("segment_id").reindex(columns=range(1, 11))
grid.columns = [str(c) for c in grid.columns]
st.plotly_chart(px.imshow(grid, text_auto=".2f" if "rate" in value or "propensity" in value else ".0f",
                          color_continuous_scale="Blues", aspect="auto",
                          labels={"x": "propensity decile (1 = top 10%)", "y": "segment", "color": value}))
st.caption("Deciles are cut on the training score distribution (1 = top 10%). observed_rate_test uses held-out "
           f"test rows only, and is blank where a cell has fewer than {MIN_TEST_CUSTOMERS} of them.")
st.dataframe(m.drop(columns="segment").rename(columns=lambda c: c.replace("_", " ")), hide_index=True,
             column_config={"customers": st.column_config.NumberColumn(format="localized")})
