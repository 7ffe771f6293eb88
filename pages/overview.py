"""Overview: the run's headline figures."""
import streamlit as st

from ui import require_run

run = require_run()
man, met = run.manifest(), run.metrics()
x, lr, seg = met.xgboost, met.logistic, met.segmentation
min_stab = man.settings["segmentation"]["min_stability"]

st.title("Customer intelligence overview")
st.caption(f"Data set **{man.dataset}** ({man.data_path}), run `{man.run_id}` trained {man.created_at}")
if man.source:  # built from a transaction log: where the rows come from
    src = man.source
    st.info(f"Built from the transaction log **{src['path']}** ({src['events']:,} lines of {src['customers']:,} "
            f"customers, {src['first_day']} to {src['last_day']}): one snapshot of every customer who had bought "
            f"before each of {len(src['cutoffs'])} cutoffs ({', '.join(src['cutoffs'])}), features from the days "
            f"before the cutoff, the label a purchase in the {src['horizon_days']} days after it. Tested out of time "
            f"on the latest cutoff ({src['cutoffs'][-1]}); the figures per snapshot are on the Propensity page.")
c = st.columns(4)
if man.source:  # stacked snapshots: one row per customer and cutoff
    c[0].metric("Customer snapshots", f"{man.rows:,}",
                help=f"{man.source['customers']:,} customers in the log, one row per cutoff they had bought before.")
else:
    c[0].metric("Customers", f"{man.rows:,}")
c[1].metric("Base rate", f"{x.base_rate:.1%}", help=f"Share of test customers who {run.target_label}.")
c[2].metric("Segments", man.n_segments)
c[3].metric("Top-decile lift", f"{x.lift_top_decile:.2f}x")
st.subheader(f"Propensity model quality: {met.grade.grade}")
st.caption(met.grade.explanation + ". Details, intervals and calibration on the Propensity page.")
c = st.columns(4)
c[0].metric("ROC-AUC (XGBoost, test)", f"{x.roc_auc:.3f}", f"{x.roc_auc - lr.roc_auc:+.3f} vs logistic")
c[1].metric("PR-AUC (XGBoost, test)", f"{x.pr_auc:.3f}", f"{x.pr_auc - lr.pr_auc:+.3f} vs logistic",
            help="PR-AUC is average precision: the mean precision at each buyer's rank. A random ranking scores the base rate.")
c[2].metric("Segment assignment agreement", "n/a" if seg.assignment_agreement is None else f"{seg.assignment_agreement:.1%}",
            help="Share of held-out fitted customers whose nearest-neighbour segment equals their fitted segment.")
c[3].metric("Noise reassigned", f"{seg.noise_share_in_sample:.1%}",
            help="Customers HDBSCAN left unclustered in the fitted sample, given their most likely segment and flagged.")
boot = seg.bootstrap_ari
st.caption(f"Segmentation method: {seg.method}; plain-language rules reproduce {seg.surrogate_fidelity:.0%} of "
           "customers' segments"
           + ("" if boot is None else f"; stability across refits (bootstrap ARI) {boot:.2f}, 1 = identical")
           + ". Details on the Segments page.")
if boot is not None and boot < min_stab:
    st.warning(f"These segments are not stable: refits on subsamples of the same customers agree with them only "
               f"{boot:.2f} (adjusted Rand index; {min_stab} is the bar). Many customers would change segment on a "
               "retrain. "
               + ("No method of the comparison on the Segments page reached the bar on this table: read the segments "
                  "with care." if seg.method_comparison else
                  f"This run used `method = \"{seg.method}\"`; with `method = \"auto\"` (the default) the slot "
                  "compares its methods and keeps a stable one where there is one."))
if seg.fallback_reason:
    st.warning(f"Segments come from the documented fallback ({seg.method}, k = {man.n_segments}): "
               f"{seg.fallback_reason}. Treat them as even slices for reporting, not as natural groups or personas.")
st.markdown(
    "- **Segments** tell you *who* your customers are: browse the personas to design campaigns.\n"
    f"- **Propensity** tells you *who {run.target_future}*, customer by customer: rank and budget contacts by it.\n"
    "- **Segment matrix** combines both: pick the segment x propensity cells to target."
)

st.subheader("Stakeholder report")
st.caption("Everything on one page for people without the app: metrics and curves, feature importance, segment "
           "cards, the matrix with actions, clustering vs classification, the production design, data quality, "
           "drift and provenance. The HTML opens without internet; the Markdown pastes into documents.")
c = st.columns(2)
c[0].download_button("Download report (HTML)", lambda: run.report("html"),
                     file_name=f"report_{run.run_id}.html", mime="text/html", on_click="ignore")
c[1].download_button("Download report (Markdown)", lambda: run.report("md"),
                     file_name=f"report_{run.run_id}.md", mime="text/markdown", on_click="ignore")
