"""Segment x propensity matrix: customers, expected buyers and revenue per cell, the
playbook's recommended action (:data:`core.activation.playbook.PLAYBOOK`) and the minimum holdout."""
import pandas as pd
import plotly.express as px
import streamlit as st

from core import formats as F
from core.actions import views
from ui import banded_matrix, currency, require_run, segment_filter

run = require_run()
m = run.table("matrix")

st.title("Propensity by segment")
st.write(f"Each cell is a segment and a band of the probability that a customer {run.target_future}: "
         "how many customers, how many are expected to buy, and what the playbook recommends.")
chosen = segment_filter(run, sorted(m["segment_name"].unique()))
m = m[m["segment_name"].isin(chosen)]
if m.empty:
    st.info("No segment chosen.")
    st.stop()
c = st.columns(3)
bands = c[0].radio("Propensity bands", ["low/medium/high", "deciles"], horizontal=True,
                   help="Deciles are cut on the training scores (1 = top 10%). High = deciles 1-3, medium = 4-7, "
                        "low = 8-10.")
values = ["customers", "mean_propensity", "expected_buyers"] + [
    v for v in ("expected_revenue", "observed_rate_test") if v in m]
VALUE_LABELS = {"customers": "customers", "mean_propensity": "mean propensity", "expected_buyers": "expected buyers",
                "expected_revenue": "expected revenue", "observed_rate_test": "observed rate (test rows)"}
money_first = "expected_revenue" if "expected_revenue" in values else "expected_buyers"  # colour by what it is worth
value = c[1].selectbox("Cell value", values, index=values.index(money_first), format_func=VALUE_LABELS.get)
lift = c[2].number_input("Uplift the holdout must detect (relative, 0.10 = +10%)", 0.01, 5.0, 0.10, step=0.01)

cells = banded_matrix(run, bands, lift, sorted(m["segment_id"].unique().tolist()))
band_col = "band" if bands != "deciles" else "propensity_decile"
order = list(views.BANDS) if bands != "deciles" else list(range(1, 11))
cells = cells.assign(segment=cells["segment_id"].astype(str) + ": " + cells["segment_name"])
# every segment keeps its row, also where its cells have no value (expected revenue of a segment without orders)
rows = pd.MultiIndex.from_frame(cells[["segment_id", "segment"]].drop_duplicates().sort_values("segment_id"))
grid = cells.pivot_table(index=["segment_id", "segment"], columns=band_col, values=value, aggfunc="first").reindex(rows)
grid = grid.droplevel("segment_id").reindex(columns=order)
grid.columns = [str(x) for x in grid.columns]
actions = cells.pivot_table(index=["segment_id", "segment"], columns=band_col, values="action", aggfunc="first")
actions = actions.droplevel("segment_id").reindex(columns=order).reindex(grid.index)
fig = px.imshow(grid, text_auto=".2f" if "rate" in value or "propensity" in value else ",.0f",
                color_continuous_scale="Blues", aspect="auto",
                labels={"x": "propensity band" if bands != "deciles" else "propensity decile (1 = top 10%)",
                        "y": "segment", "color": VALUE_LABELS[value]})
fig.update_xaxes(type="category")  # every band or decile labelled
fig.update_traces(customdata=actions.fillna("").to_numpy(),
                  hovertemplate="%{y}<br>%{x}: %{z}<br>action: %{customdata}<extra></extra>")
st.plotly_chart(fig)
if "expected_revenue" in run.table("scored").columns:
    st.caption("Expected revenue = the sum over the cell's customers of P(buy) x their expected spend per purchase "
               "(Gamma-Gamma, fitted on the log before the cutoff).")
elif "expected_revenue" in m:
    st.caption("Expected revenue = expected buyers (sum of calibrated propensities) x the segment's average order "
               "value; blank where the segment's customers have no orders.")
else:
    st.caption("No expected revenue: this data set's spec names no `order_value_column`.")
if "observed_rate_test" in m:
    st.caption(f"The observed rate uses held-out test rows only, and is blank where a cell has fewer than "
               f"{views.MIN_TEST_CUSTOMERS} of them.")

st.subheader("Recommended action per cell")
cur = currency(run)
show = ["segment", band_col, "action", "customers", "expected_buyers"] + \
       [x for x in ("expected_revenue",) if x in cells] + ["holdout_per_group"]
formats = {  # widths keep the table inside a 1366-pixel screen with long persona names
    "segment": st.column_config.TextColumn(width="medium"),
    "action": st.column_config.TextColumn(width="medium"),
    band_col: st.column_config.TextColumn("band", width="small") if bands != "deciles" else
    st.column_config.NumberColumn("decile", width="small"),
    "customers": st.column_config.NumberColumn(format="localized", width="small"),
    "mean_propensity": st.column_config.NumberColumn("chance to buy", format="percent"),
    "expected_buyers": st.column_config.NumberColumn("buyers", format="localized", width="small",
                                                     help="Expected buyers: the sum of the calibrated probabilities."),
    "expected_revenue": st.column_config.NumberColumn(f"expected revenue ({cur.strip()})", format="localized")
    if not cells.get("expected_revenue", pd.Series(dtype=float)).isna().any() else "expected revenue",
    "observed_rate_test": st.column_config.NumberColumn("observed rate (test)", format="percent")
    if not cells.get("observed_rate_test", pd.Series(dtype=float)).isna().any() else "observed rate (test)",
    "holdout_per_group": st.column_config.NumberColumn(
        "holdout", format="localized", width="small",
        help=f"Holdout per group: customers per group (holdout and contacted) to detect a {lift:.0%} relative uplift over the cell's "
             "mean propensity: two-proportion test, alpha 0.05, power 0.8 (Fleiss et al. 2003)."),
    "holdout_fits": st.column_config.CheckboxColumn("cell fits both groups"),
}
rounded = cells.round({"expected_buyers": 0, "expected_revenue": 0})
# a blank, never "None", where a cell has no value (the captions above say why)
for col, fmt in (("expected_revenue", lambda v: F.money(v, cur)), ("observed_rate_test", F.share)):
    if col in rounded and rounded[col].isna().any():
        rounded[col] = rounded[col].map(fmt)
st.dataframe(rounded[show], hide_index=True, column_config=formats)
with st.expander("Analyst details: every column, and why each action"):
    full = show + ["mean_propensity", "holdout_fits"] + [x for x in ("observed_rate_test",) if x in cells] + ["why"]
    st.dataframe(rounded[full], hide_index=True, column_config=formats)
with st.expander("The playbook: how actions are chosen"):
    st.write(f"The first matching rule wins. A cell is *deal-seeking* when its customers' discount use is at least "
             f"{views.TRAIT_THRESHOLD} standard deviations above all customers', *high past value* when their "
             f"spend is, and *lapsing* when their days since the last purchase are (spec columns `discount_column`, "
             f"`value_column` and `recency_column`).")
    st.dataframe(pd.DataFrame(views.PLAYBOOK, columns=["band", "deal-seeking", "high past value", "lapsing", "action", "why"])
                 .replace({None: "any", True: "yes", False: "no"}), hide_index=True)
