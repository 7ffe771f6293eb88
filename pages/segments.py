"""Segments: one card per segment, the profile heatmap, renaming, quality and continuity."""
import pandas as pd
import plotly.express as px
import streamlit as st

from core import formats as F
from core.actions import runs, views
from core.errors import DataError
from ui import currency, require_run, settings, show_error

run = require_run()
profiles = run.profiles()
auto = run.auto_names()
man, seg_info, spec = run.manifest(), run.metrics().segmentation, run.spec()
cfg = man.settings["segmentation"]
labels = run.feature_labels()
rate_col = f"share who {run.target_label}"
link = run.continuity()


def _how_much(d: float) -> str:
    """An effect size in words (Cohen 1988: 0.2 small, 0.5 medium, 0.8 large)."""
    d = abs(d)
    return "much" if d >= 0.8 else "clearly" if d >= 0.5 else "somewhat" if d >= 0.2 else "slightly"


st.title("Segments")
details = st.toggle("Analyst details", value=False, help="Show the statistics behind the segments: effect sizes, "
                    "every feature, the quality figures and the methods compared.")
cur = currency(run)
if seg_info.fallback_reason:
    st.warning(f"These segments come from a fallback ({seg_info.method}): {seg_info.fallback_reason}. The names "
               "describe each slice's averages, not real personas.")
boot = seg_info.bootstrap_ari
if boot is not None and boot < cfg["min_stability"]:
    st.warning(f"Not stable: refits agree with these segments only {boot:.2f} (adjusted Rand index, bar "
               f"{cfg['min_stability']}); see the quality figures below.")
for line in seg_info.merged_clusters:
    st.info(line[0].upper() + line[1:] + ": it is too small to act on as a segment of its own.")
st.caption(f"Segments are found from what customers do ({', '.join(spec.segmentation_groups)} features: "
           f"{len(seg_info.inputs)} inputs); demographics and the target are left out so segments describe "
           f"behaviour, and demographics then profile them. Method: {seg_info.method}.")
if seg_info.method_comparison and details:
    with st.expander(f"Why {seg_info.method}: the methods compared on this table", expanded=False):
        st.write(f"Kept {seg_info.choice_reason}.")
        st.dataframe(pd.DataFrame(seg_info.method_comparison), hide_index=True, column_config={
            "smallest_share": st.column_config.NumberColumn("smallest segment", format="percent"),
            "noise_share": st.column_config.NumberColumn("HDBSCAN noise", format="percent"),
            "bootstrap_ari": st.column_config.NumberColumn("stability (bootstrap ARI)", format="%.2f"),
            "rule_fidelity": st.column_config.NumberColumn("rules reproduce (fitted sample)", format="percent"),
            "silhouette_scaled": st.column_config.NumberColumn("silhouette", format="%.3f"),
            "dbcv": st.column_config.NumberColumn("DBCV", format="%.3f"),
            "assignment_agreement": st.column_config.NumberColumn("assignment agrees", format="percent")})
        st.caption(f"The rule: stable (ARI >= {cfg['min_stability']}, and the assignment giving at least "
                   f"{cfg.get('min_assignment_agreement', 0.9):.0%} of held-out customers their fitted segment) and readable (depth-4 rules reproduce >= "
                   f"{cfg['min_rule_fidelity']:.0%}) first, then the most segments, then the best separated "
                   "(silhouette in the scaled inputs). Set `method` in the settings to use one method.")
for name, why in seg_info.figure_notes.items() if details else ():
    st.caption(f"{name.replace('_', ' ')}: {why}")

summary = pd.DataFrame([{
    "segment": p.segment_id, "persona": p.name, "customers": F.count(p.size), "share": F.share(p.share),
    rate_col: F.share(p.purchase_rate), f"average spend ({cur.strip()})": F.money(p.average_spend, cur),
    "status": p.status,
} for p in profiles])
if all(p.average_spend is None for p in profiles):
    summary = summary.drop(columns=f"average spend ({cur.strip()})")
    st.caption("No average spend: this data set's spec names no spend (`value_column`).")
st.dataframe(summary, hide_index=True)

heat = pd.DataFrame({p.name: {labels.get(f, f): v["std_diff"] for f, v in p.features.items()} for p in profiles}).T
st.subheader("How each segment differs from the average customer")
st.plotly_chart(px.imshow(heat, color_continuous_scale="RdBu_r", zmin=-2, zmax=2, aspect="auto",
                          labels={"color": "difference"}))
st.caption("Red: the segment has more of it than the average customer; blue: less; the darker, the larger the gap."
           + (" The scale is the standardized difference d = (segment mean - population mean) / population sd, on "
              "the log scale for counts, money and durations; |d| of 0.2 is small, 0.5 medium, 0.8 large (Cohen "
              "1988)." if details else ""))

st.subheader("Segment cards")
for p in profiles:
    rate = "" if p.purchase_rate is None else f" · {p.purchase_rate:.1%} {run.target_label}"
    flag = " · new this run" if p.status == "new" else ""
    with st.expander(f"{p.segment_id}: {p.name} — {p.size:,} customers ({p.share:.1%}){rate}{flag}"):
        if p.name != auto[p.segment_id]:
            st.caption(f"Name set by hand; automatic name: {auto[p.segment_id]}")
        if p.computed_name != auto[p.segment_id]:
            st.caption(f"Name kept from the previous run so the segment stays recognisable; its features today "
                       f"would name it '{p.computed_name}'.")
        st.write(p.description)
        cols = st.columns(4)
        cols[0].metric("Customers", F.count(p.size), f"{F.share(p.share)} of all", delta_color="off")
        if p.purchase_rate is not None:
            cols[1].metric(rate_col.capitalize(), F.share(p.purchase_rate))
        if p.average_spend is not None:
            cols[2].metric("Average spend", F.money(p.average_spend, cur))
        cols[3].metric("Rules reproduce", F.share(p.rule_fidelity, 0),
                       help="Share of this segment's customers whose segment the rules below give.")
        if p.rules:
            st.markdown(f"**Rules** (a depth-{seg_info.surrogate_depth} decision tree; they reproduce this segment for "
                        f"{p.rule_fidelity:.0%} of its customers):")
            for r in p.rules[:4]:
                st.markdown(f"- {r['text'][0].upper() + r['text'][1:]} — {r['customers']:,} customers, "
                            f"{r['precision']:.0%} of them in this segment")
        else:
            st.markdown(f"**Rules:** no rule of at most {seg_info.surrogate_depth} conditions singles this segment "
                        "out; read it from its distinctive features below.")
        st.markdown("**What stands out:** " + "; ".join(
            f"{t['label']} {_how_much(t['std_diff'])} {t['direction']}"
            + (f" ({t['std_diff']:+.2f} sd)" if details else "") for t in p.top_features))
        demo = [(c, levels) for c, levels in p.categorical.items() if spec.column(c).group == "demographics"]
        if demo:
            st.markdown("**Demographic mix** (share in this segment vs all customers)")
            mix = pd.DataFrame([{"field": labels.get(c, c), "level": lvl, "segment %": 100 * a, "all customers %": 100 * b,
                                 "difference (points)": 100 * (a - b)}
                                for c, levels in demo for lvl, (a, b) in levels.items()])
            st.dataframe(mix, hide_index=True, column_config={
                k: st.column_config.NumberColumn(format="%.1f") for k in ("segment %", "all customers %",
                                                                          "difference (points)")})
        if not details:
            continue
        rows = [{"feature": labels.get(f, f), "segment median": v["median"], "segment mean": v["mean"],
                 "population median": v["pop_median"], "population mean": v["pop_mean"],
                 "std. difference": v["std_diff"]} for f, v in p.features.items()]
        st.markdown("**Every feature**")
        st.dataframe(pd.DataFrame(rows).sort_values("std. difference", key=abs, ascending=False), hide_index=True,
                     column_config={k: st.column_config.NumberColumn(format="%.2f") for k in
                                    ("segment median", "segment mean", "population median", "population mean",
                                     "std. difference")})

st.subheader("Rename a segment")
st.caption("A name set here is stored apart from the automatic one, wins wherever the segment is shown or exported, "
           "and carries over to later runs whose segment matches this one. Leave empty to go back to the automatic name.")
with st.form("rename"):
    options = {f"{p.segment_id}: {p.name}": p for p in profiles}
    pick = st.selectbox("Segment", list(options))
    new_name = st.text_input("Display name", max_chars=views.MAX_NAME_LENGTH)
    if st.form_submit_button("Save name"):
        target = options[pick]
        try:
            runs.rename_segment(settings(), run.run_id, target.segment_id, new_name)
        except DataError as exc:
            show_error(exc)
        else:
            st.session_state["_renamed"] = (f"Segment {target.segment_id} is now shown as "
                                            f"'{new_name.strip() or auto[target.segment_id]}'.")
            st.rerun()
if st.session_state.get("_renamed"):
    st.success(st.session_state.pop("_renamed"))

if not details:
    st.caption("Turn on *Analyst details* at the top for the quality figures, the methods compared and the "
               "continuity with the previous run.")
    st.stop()
st.subheader("Segmentation quality")
fmt = lambda v, f="{:.3f}": "n/a" if v is None else f.format(v)  # noqa: E731
quality = pd.DataFrame([
    ("segments", str(seg_info.n_segments), f"aimed for: {cfg['min_segments']} to {cfg['max_segments']}, none under "
     f"{cfg['min_segment_share']:.0%} of customers"),
    ("bootstrap ARI", fmt(seg_info.bootstrap_ari),
     f"agreement of {len(seg_info.bootstrap_aris)} refits on subsamples of "
     f"{seg_info.stability_size or 0:,} customers with these segments (1 = identical; target 0.8)"),
    ("rule fidelity", fmt(seg_info.surrogate_fidelity, "{:.1%}"), "customers whose segment the rules reproduce"),
    ("assignment agreement", fmt(seg_info.assignment_agreement, "{:.1%}"),
     "held-out fitted customers whose nearest-neighbour segment equals their fitted one"),
    ("noise reassigned", fmt(seg_info.noise_share_in_sample, "{:.1%}"),
     "fitted customers HDBSCAN left unclustered, given their most likely segment"),
    ("DBCV (scaled inputs)", fmt(seg_info.dbcv), "density-based validity, -1..1, higher is better"),
    ("silhouette (scaled inputs)", fmt(seg_info.silhouette_scaled), "-1..1, higher is better"),
    ("silhouette (UMAP embedding)", fmt(seg_info.silhouette_embedding), "-1..1, higher is better"),
    ("Hopkins statistic", fmt(seg_info.hopkins, "{:.2f}"), "0.5 = no clustering tendency"),
] + ([("ARI vs true persona", fmt(seg_info.ari_vs_true_persona), "generated data only (evaluation)")]
     if seg_info.ari_vs_true_persona is not None else []), columns=["figure", "value", "meaning"])
st.dataframe(quality, hide_index=True)
if seg_info.hdbscan_candidates:
    with st.expander("HDBSCAN parameter search: every candidate tried"):
        cand = pd.DataFrame(seg_info.hdbscan_candidates).drop(columns=["stability_aris"], errors="ignore")
        cand = cand.sort_values(["chosen", "actionable", "stability"], ascending=False, na_position="last")
        st.dataframe(cand.rename(columns=lambda c: c.replace("_", " ")).round(3), hide_index=True)
        st.caption(f"DBCV here is HDBSCAN's relative validity on the UMAP embedding. Actionable: "
                   f"{cfg['min_segments']} to {cfg['max_segments']} clusters, none under "
                   f"{cfg['min_segment_share']:.0%}, at most {cfg['max_noise_share']:.0%} noise. Stability "
                   "(bootstrap ARI) is measured for the actionable candidates, finest first, rule fidelity for the "
                   "stable ones; the first that is stable and readable is chosen, and the ones after it are not "
                   "measured (they could not be chosen).")

st.subheader("Continuity with the previous run")
if not link.previous_run:
    st.info(f"No comparison: {link.reason}.")
else:
    st.write(f"Matched against run `{link.previous_run}`: segments sharing at least half their customers "
             "(Jaccard index) keep their id and name.")
    if link.retired:
        st.write("Retired (no match this run): " + ", ".join(f"{r['segment_id']}: {r['name']}" for r in link.retired))
    new = [str(k) for k, v in link.status.items() if v == "new"]
    if new:
        st.write("New this run: segments " + ", ".join(new))
    moves = views.transition_summary(link.transitions, link.previous_names, run.segment_names())
    if moves is not None:
        st.markdown("**Transition matrix**: customers in both runs, from their previous segment (rows) "
                    "to their segment now (columns)")
        st.dataframe(moves.matrix)
        st.caption(f"{moves.customers:,} customers in both runs; {moves.kept_share:.1%} stayed in a segment with the "
                   "same id.")
