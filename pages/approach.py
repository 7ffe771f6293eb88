"""Clustering vs classification: when to use which, with this run's own numbers, and how
both work together in production."""
import pandas as pd
import streamlit as st

from ui import require_run, segment_only_scores

run = require_run()
met = run.metrics()
seg, x = met.segmentation, met.xgboost
target = run.spec().target

st.title("Clustering or classification?")
st.write("Two questions, two tools. Segments (clustering) answer *who are our customers?* without labels; the "
         f"propensity model (classification) answers *who {run.target_future}?* from labelled history.")


def _f(v, fmt):
    return "n/a" if v is None else format(v, fmt)


rows = [
    ("objective", "find structure: groups of customers who behave alike", f"predict a known target ({target})"),
    ("inputs", f"what customers do ({len(seg.inputs)} behavioural, transactional and support features); "
               "no labels", "all features and labelled history (who bought in the next 30 days)"),
    ("evaluation", "stability, separation, readability", "ranking, calibration, lift"),
    ("this run", f"{seg.n_segments} segments ({seg.method}); stability (bootstrap ARI) "
                 f"{_f(seg.bootstrap_ari, '.2f')}; silhouette {_f(seg.silhouette_scaled, '.2f')}; "
                 f"rules reproduce {_f(seg.surrogate_fidelity, '.0%')} of customers",
     f"ROC-AUC {x.roc_auc:.3f}; PR-AUC (average precision) {x.pr_auc:.3f}; ECE {_f(x.ece, '.3f')}; "
     f"top-decile lift {x.lift_top_decile:.2f}x"),
    ("answers for the growth team", "what to say: personas for messages, offers and creative; market sizing",
     "whom to contact and how many: ranking, budgets, suppression of unlikely buyers"),
    ("refresh", "monthly: segments should hold still (ids and names carry over)",
     "weekly or daily scoring; monthly retrain"),
]
st.table(pd.DataFrame(rows, columns=["", "clustering (segments)", "classification (propensity)"]).set_index(""))

st.subheader("Measured: does knowing a customer's segment predict purchase?")
cmp = segment_only_scores(str(run.artifacts), run.run_id)
if "error" in cmp:
    st.info(f"Not measurable on this run: {cmp['error']}.")
else:
    st.dataframe(pd.DataFrame([
        {"score": "segment membership (each segment's training purchase rate)",
         "ROC-AUC": round(cmp["segments"]["roc_auc"], 3), "PR-AUC (average precision)": round(cmp["segments"]["pr_auc"], 3)},
        {"score": "propensity model (XGBoost, calibrated)",
         "ROC-AUC": round(cmp["classifier"]["roc_auc"], 3), "PR-AUC (average precision)": round(cmp["classifier"]["pr_auc"], 3)},
    ]), hide_index=True)
    st.caption(f"Same {cmp['test_rows']:,} held-out test customers. Segments are built without the target, so they "
               "rank buyers only as far as behaviour groups differ in purchase rate; the classifier ranks customers "
               "inside every segment too (per-segment ROC-AUC on the Propensity page).")

st.subheader("Recommended production design")
st.markdown(
    "- **Segments, refreshed monthly**, for campaign design and messaging: each persona gets its own creative and "
    "offer; ids and hand-set names carry over between retrains, new and retired segments are flagged.\n"
    "- **Propensity, scored weekly or daily**, for targeting and suppression: contact from the top down to the "
    "budget or the profit threshold; do not spend on the lowest deciles.\n"
    "- **Combined in the segment x propensity matrix**: the segment picks the message, the decile picks whether and "
    "how hard to push; the cohort builder turns a selection into a contact list.\n"
    "- **A random holdout in every campaign**, sized by the power calculation in the cohort builder, to measure "
    "uplift: propensity says who would buy, the holdout says who buys *because of* the campaign.")
