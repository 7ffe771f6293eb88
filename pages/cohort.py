"""Cohort builder: pick segments, a propensity range and optional feature filters, see what
the cohort is worth, split a seeded holdout sized by a power calculation, export it as CSV."""
from datetime import date

import streamlit as st

from core import playbook
from core.sinks import csv_bytes
from ui import filter_control, require_run, settings

run = require_run()
scored = run.table("scored")
features = run.table("features")  # same rows and order as the scored table (the run writes both)
names = run.segment_names()

st.title("Cohort builder")
st.write(f"Choose who to contact: segments and a range of the probability that a customer {run.target_label}.")
if run.spec().snapshot_column:
    scored, features, as_of = playbook.latest_snapshot(scored, features)
    if as_of:
        st.caption(f"Built from snapshots: the cohort holds each customer once, as of the latest cutoff ({as_of}). "
                   "For scores as of today, score the log again (`python -m core score --log LOG`).")
ids = sorted(int(i) for i in scored["segment_id"].unique())
chosen = st.multiselect("Segments", ids, default=ids, format_func=lambda i: f"{i}: {names.get(i, i)}")
mode = st.radio("Propensity range on", ["score (probability)", "percentile (100 = highest score)"], horizontal=True)
if mode.startswith("score"):
    lo, hi = st.slider("Propensity", 0.0, 1.0, (0.3, 1.0), step=0.01)
    mask = playbook.cohort_mask(scored, chosen, min_propensity=lo, max_propensity=hi)
else:
    lo, hi = st.slider("Percentile", 0, 100, (90, 100))
    mask = playbook.cohort_mask(scored, chosen, min_percentile=lo, max_percentile=hi)
labels = run.feature_labels()
filters = {}
picked = st.multiselect("Filter on features (optional)", [c for c in labels if c in features.columns],
                        format_func=lambda f: labels[f])
for col in picked:  # the control follows the column's kind in the spec
    ctl = filter_control(str(run.artifacts), run.run_id, col)
    if ctl["kind"] == "values":
        filters[col] = st.multiselect(labels[col], ctl["values"], default=ctl["values"], key=f"f_{col}")
    else:
        lo_v, hi_v = ctl["low"], ctl["high"]
        filters[col] = st.slider(labels[col], lo_v, hi_v, (lo_v, hi_v), key=f"f_{col}") if lo_v < hi_v else (lo_v, hi_v)
if filters:
    mask = mask & playbook.feature_mask(features, filters)
    st.caption("Customers with a filtered value not recorded are left out.")
s = playbook.cohort_summary(scored, mask)
c = st.columns(5)
c[0].metric("Customers", f"{s['customers']:,}", help=f"{s['share_of_customers']:.1%} of all customers")
c[1].metric("Expected buyers", f"{s['expected_buyers']:,.0f}", help="Sum of the calibrated propensities.")
c[2].metric("Expected precision", f"{s['expected_precision']:.1%}", help="Mean calibrated propensity in the cohort.")
c[3].metric("Lift over the base rate", f"{s['lift']:.2f}x")
c[4].metric("Share of expected buyers", f"{s['share_of_expected_buyers']:.1%}",
            help="Of all customers' expected buyers, the share this cohort holds.")
if "expected_revenue" in s:
    st.metric("Expected revenue in the horizon", f"{s['expected_revenue']:,.0f}",
              help="Sum over the cohort of P(buy) x the customer's Gamma-Gamma expected spend per purchase "
                   "(a log-built run).")
if s["customers"] == 0:
    st.info("No customer matches: widen the propensity range, add segments or loosen the feature filters.")
    st.stop()

st.subheader("Holdout, to measure the campaign's uplift")
use_holdout = st.checkbox("Split off a random holdout group (not contacted)", value=False)
holdout = 0
if use_holdout:
    lift = st.number_input("Smallest relative uplift to detect (0.10 = +10%)", 0.01, 5.0, 0.10, step=0.01)
    base = max(min(s["expected_precision"], 0.99), 0.001)
    try:
        need = playbook.holdout_size(base, lift)
    except ValueError:
        need = None
        st.warning(f"An uplift of {lift:.0%} on an expected rate of {base:.1%} would push the rate above 100%: "
                   "choose a smaller uplift to size a holdout. The cohort below has no holdout.")
    holdout = 0 if need is None else min(need, s["customers"] // 2)
if use_holdout and need is not None:
    st.write(f"Two-proportion test, alpha 0.05, power 0.8, expected rate {base:.1%}: **{need:,}** customers per "
             f"group. Holdout: **{holdout:,}** customers, drawn at random (seed {settings().seed}).")
    if holdout < need:
        st.warning(f"The cohort is too small for that: with {holdout:,} per group the test cannot reliably detect a "
                   f"{lift:.0%} uplift. Widen the cohort or accept a larger detectable uplift.")
export = playbook.cohort_export(scored, mask, holdout, settings().seed)
st.dataframe(export.head(50), hide_index=True)
# the CSV is made when the button is clicked (a callable), not on every rerun of the page
st.download_button("Download cohort CSV", lambda: csv_bytes(export),
                   file_name=f"cohort_{run.run_id}_{date.today().isoformat()}.csv", mime="text/csv",
                   on_click="ignore")
st.caption("Columns: customer_id, segment_id, persona, propensity, propensity_decile, reason_1..3, group "
           "(contact or holdout).")
