"""Overview: the run's headline figures."""
import streamlit as st

from core import registry, report
from views.common import require_run

run = require_run()
man, met = run.json("manifest"), run.json("metrics")
x, lr = met["xgboost"], met["logistic"]

st.title("Customer intelligence overview")
st.caption(f"Data set **{man['dataset']}** ({man['data_path']}), run `{man['run_id']}` trained {man['created_at']}")
c = st.columns(4)
c[0].metric("Customers", f"{man['rows']:,}")
c[1].metric("Base rate", f"{x['base_rate']:.1%}", help=f"Share of test customers who {run.target_label}.")
c[2].metric("Segments", man["n_segments"])
c[3].metric("Top-decile lift", f"{x['lift_top_decile']:.2f}x")
if "grade" in met:
    g = met["grade"]
    st.subheader(f"Propensity model quality: {g['grade']}")
    st.caption(g["explanation"] + ". Details, intervals and calibration on the Propensity page.")
c = st.columns(4)
c[0].metric("ROC-AUC (XGBoost, test)", f"{x['roc_auc']:.3f}", f"{x['roc_auc'] - lr['roc_auc']:+.3f} vs logistic")
c[1].metric("PR-AUC (XGBoost, test)", f"{x['pr_auc']:.3f}", f"{x['pr_auc'] - lr['pr_auc']:+.3f} vs logistic",
            help="PR-AUC is average precision: the mean precision at each buyer's rank. A random ranking scores the base rate.")
agree = met["segmentation"].get("assignment_agreement")
c[2].metric("Segment assignment agreement", "n/a" if agree is None else f"{agree:.1%}",
            help="Share of held-out fitted customers whose nearest-neighbour segment equals their fitted segment.")
c[3].metric("Noise reassigned", f"{met['segmentation']['noise_share_in_sample']:.1%}",
            help="Customers HDBSCAN left unclustered in the fitted sample, given their most likely segment and flagged.")
fid = met["segmentation"].get("surrogate_fidelity")
boot = met["segmentation"].get("bootstrap_ari")
st.caption(f"Segmentation method: {man['segmentation_method']}"
           + ("" if fid is None else f"; plain-language rules reproduce {fid:.0%} of customers' segments")
           + ("" if boot is None else f"; stability across refits (bootstrap ARI) {boot:.2f}, 1 = identical")
           + ". Details on the Segments page.")
seg_info = met["segmentation"]
min_stab = man["settings"]["segmentation"].get("min_stability", 0.8)
if boot is not None and boot < min_stab:
    st.warning(f"These segments are not stable: refits on subsamples of the same customers agree with them only "
               f"{boot:.2f} (adjusted Rand index; {min_stab} is the bar). Many customers would change segment on a "
               "retrain. Compare the methods on this table (benchmarks/bench_segmentation_methods.py) and consider "
               "`method = \"kmeans\"` in the settings before building campaigns on them.")
if "no cluster structure" in man["segmentation_method"]:
    st.warning(f"This table shows no clustering tendency (Hopkins statistic {seg_info['hopkins']:.2f}, below "
               f"{run.json('manifest')['settings']['segmentation']['min_hopkins']}): its customers do not form natural "
               f"groups, so the segments are a KMeans partition of the inputs into k = {man['n_segments']} (chosen by "
               "silhouette; the documented fallback). Use them as even slices for reporting, not as personas.")
elif "fallback" in man["segmentation_method"]:
    st.warning(f"HDBSCAN found no setting with an actionable number of dense groups (5 to 10, none under 2%), so "
               f"segments come from KMeans on the UMAP embedding with k = {man['n_segments']} (chosen by silhouette; "
               "the documented fallback). Treat them as a partition, not as natural groups.")
st.markdown(
    "- **Segments** tell you *who* your customers are: browse the personas to design campaigns.\n"
    f"- **Propensity** tells you *who {run.target_label}*, customer by customer: rank and budget contacts by it.\n"
    "- **Segment matrix** combines both: pick the segment x propensity cells to target."
)

st.subheader("Stakeholder report")
st.caption("Everything on one page for people without the app: metrics and curves, feature importance, segment "
           "cards, the matrix with actions, clustering vs classification, the production design, data quality, "
           "drift and provenance. The HTML opens without internet; the Markdown pastes into documents.")
_run = registry.load_run(run.artifacts, run.run_id)
c = st.columns(2)
c[0].download_button("Download report (HTML)", lambda: report.render_html(_run, run.artifacts).encode("utf-8"),
                     file_name=f"report_{run.run_id}.html", mime="text/html", on_click="ignore")
c[1].download_button("Download report (Markdown)", lambda: report.render_markdown(_run, run.artifacts).encode("utf-8"),
                     file_name=f"report_{run.run_id}.md", mime="text/markdown", on_click="ignore")
