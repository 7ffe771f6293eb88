"""Propensity: quality with intervals, calibration, lift and gains, capture and budget,
the profit threshold, SHAP importance, summary and dependence, per-segment figures,
tuning trials, and a customer lookup with the customer's reasons."""
import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from core import formats as F
from core import report
from ui import (
    base_budget,
    cached_figure,
    currency,
    economics,
    group_importance,
    require_run,
)

BEESWARM_POINTS = 300  # dots per feature in the SHAP summary
DEPENDENCE_POINTS = 2000  # dots in the dependence plot

run = require_run()
met = run.metrics()

st.title("Propensity model")
st.write(f"Predicts, for each customer, the probability that they {run.target_future}.")

grade = met.grade
st.subheader(f"Quality: {grade.grade}")
bands = grade.bands
st.caption(grade.explanation + ". Bands for this base rate: "
           + "; ".join(f"{b['grade']} ROC-AUC >= {b['min_roc_auc']} and top-decile lift >= {b['min_lift']}x" for b in bands)
           + "; otherwise Poor.")


def _ci(v, ci):
    return f"{v:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


KEY = (str(run.artifacts), run.run_id)  # figures are built once per run (views.common.cached_figure)


def _quality():
    """Comparison table with intervals, ROC and precision-recall curves, how the model was trained."""
    rows = [{"model": r["model"], "ROC-AUC (95% CI)": _ci(r["roc_auc"], r["roc_auc_ci"]),
             "PR-AUC (95% CI)": _ci(r["pr_auc"], r["pr_auc_ci"]),
             "log loss": F.score(r["log_loss"]), "Brier": F.score(r["brier"]), "ECE": F.score(r["ece"]),
             "top-decile lift": F.times(r["lift_top_decile"])} for r in met.comparison]
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    x = met.xgboost
    st.caption(f"Held-out test rows ({x.rows:,}; base rate {x.base_rate:.1%}), touched once. PR-AUC is average "
               "precision (step-wise), not a trapezoid area; a random ranking scores the base rate. Intervals: 95% "
               "percentile bootstrap, 1,000 seeded resamples. ECE: expected calibration error over 10 equal-width bins. "
               "Recency only ranks customers by days since their last purchase: the simplest peer."
               + (" The oracle is the generator's true propensity: the ceiling on the default data." if met.oracle else ""))

    if met.paired_differences and "bgnbd" in met.paired_differences:
        d = met.paired_differences["bgnbd"]
        st.markdown(f"**Against BG/NBD on the same test customers** (paired bootstrap, 95%): ROC-AUC "
                    f"{d['roc_auc'][0]:+.3f} [{d['roc_auc'][1]:+.3f}, {d['roc_auc'][2]:+.3f}], PR-AUC "
                    f"{d['pr_auc'][0]:+.3f} [{d['pr_auc'][1]:+.3f}, {d['pr_auc'][2]:+.3f}]. BG/NBD (Fader, Hardie & "
                    "Lee 2005) is fitted at each cutoff on the purchase days before it, without labels: the standard "
                    "answer to *who buys again* from a log, and the peer to beat.")
    if met.per_snapshot:
        st.markdown("**Per snapshot** (train snapshots are in-sample; validation chose the model; test was touched once)")
        st.dataframe(pd.DataFrame(met.per_snapshot), hide_index=True, column_config={
            "positive_rate": st.column_config.NumberColumn("positive rate", format="percent"),
            **{k: st.column_config.NumberColumn(k.replace("_", " "), format="%.3f")
               for k in ("roc_auc", "pr_auc", "bgnbd_roc_auc", "bgnbd_pr_auc")}})

    c1, c2 = st.columns(2)
    roc, pr = cached_figure(KEY + ("curves",), lambda: report.curve_figures(met))
    c1.plotly_chart(roc)
    c2.plotly_chart(pr)
    _training()


def _calibration_section():
    """Reliability curve before and after calibration."""
    st.subheader("Calibration: does a 0.30 mean 30%?")
    cal = met.calibration

    st.plotly_chart(cached_figure(KEY + ("calibration",), lambda: report.calibration_figure(met)))
    st.caption(f"Calibration method: **{cal.method}** ({cal.why}). ECE before {cal.ece_before:.4f}, "
               f"after {cal.ece_after:.4f}.")


def _lift_section():
    """Budget and economics on the whole scored base; lift, gains, capture and the profit
    threshold as measured on the test rows, behind the analyst fold."""
    cur = currency(run)
    plan = base_budget(str(run.artifacts), run.run_id)
    st.subheader("Budget: what contacting the best-scored customers reaches")
    st.dataframe(pd.DataFrame({
        "contact the top": plan["budget_share"].map(F.share), "customers": plan["contacts"].map(F.count),
        "expected buyers": plan["expected_buyers"].map(F.count),
        "share of all expected buyers": plan["share_of_expected_buyers"].map(lambda v: F.share(v, 0)),
        "buyers among them (tested)": plan["test_precision"].map(F.share)}), hide_index=True)
    st.caption(f"Counts are of all {F.count(plan['contacts'].iloc[-1] / plan['budget_share'].iloc[-1])} scored "
               "customers; expected buyers are the sum of their calibrated probabilities. The last column is what the "
               "same share of held-out test customers actually did.")

    st.markdown("**Your budget and your economics**")
    c1, c2, c3 = st.columns(3)
    k = c1.slider("Contact the top ... of customers", 1, 100, 10, format="%d%%")
    cost = c2.number_input(f"Cost of one contact ({cur.strip()})", min_value=0.01, value=float(met.profit.contact_cost))
    value = c3.number_input(f"Value of one conversion ({cur.strip()})", min_value=0.01,
                            value=float(met.profit.conversion_value))
    what_if = economics(str(run.artifacts), run.run_id, k / 100, cost, value)
    b = what_if["base"]
    c1.write(f"{F.count(b['contacts'])} contacts are expected to reach **{F.count(b['expected_buyers'])}** buyers: "
             f"expected profit **{F.money(b['expected_profit'], cur)}**.")
    c2.write(f"Contact pays above a probability of **{F.share(b['threshold'])}** (cost / value): "
             f"{F.count(b['threshold_contacts'])} customers, expected profit **{F.money(b['threshold_profit'], cur)}**.")
    c3.write(f"Contacting everyone: expected profit {F.money(b['profit_contact_all'], cur)}.")

    with st.expander("Analyst details: lift, gains, capture and profit on the test rows"):
        c1, c2 = st.columns(2)
        lift_fig, gain_fig = cached_figure(KEY + ("lift_gains",), lambda: report.lift_gains_figures(met))
        c1.plotly_chart(lift_fig)
        c2.plotly_chart(gain_fig)
        cap = pd.DataFrame(met.capture)
        st.markdown("**Capture on the test rows: contacts needed, best scores first**")
        st.dataframe(pd.DataFrame({
            "buyers captured": cap["buyers_share"].map(lambda v: F.share(v, 0)),
            "share of customers to contact": cap["contact_share"].map(F.share)}), hide_index=True)
        if "budget" in what_if:
            t, pf_now = what_if["budget"], what_if["profit"]
            st.write(f"On the test rows, the top {k}% ({F.count(t['contacts'])} customers) held {F.count(t['buyers'])} "
                     f"buyers: precision {F.share(t['precision'])}, recall {F.share(t['recall'])}, lift "
                     f"{F.times(t['lift'])}. At the threshold, realised profit {F.money(pf_now['realised_profit'], cur)} "
                     f"(expected {F.money(pf_now['expected_profit'], cur)}; contacting everyone "
                     f"{F.money(pf_now['profit_contact_all'], cur)}).")
        pf = met.profit
        st.dataframe(pd.DataFrame({"": ["contacted", "not contacted"], "bought": [pf.tp, pf.fn],
                                   "did not buy": [pf.fp, pf.tn]}), hide_index=True)
        st.caption(f"Confusion matrix on the test rows at the settings' cost {pf.contact_cost:g} and value "
                   f"{pf.conversion_value:g} (threshold {pf.threshold:.3f}): precision {F.share(pf.precision)}, "
                   f"recall {F.share(pf.recall)}.")


def _segment_section():
    """Calibration and ranking inside each segment."""
    seg = pd.DataFrame(met.segments_propensity)
    if len(seg):
        st.subheader("By segment: calibration and ranking inside each segment (test rows)")
        names = run.segment_names()
        seg["segment"] = seg["segment_id"].map(names).fillna(seg.get("name"))
        st.dataframe(pd.DataFrame({
            "segment": seg["segment"], "customers": seg["customers"].map("{:,}".format),
            "observed rate": seg["observed_rate"].map("{:.1%}".format),
            "mean predicted": seg["mean_predicted"].map("{:.1%}".format),
            "ROC-AUC": seg["roc_auc"].map(lambda v: "n/a" if v is None or pd.isna(v) else f"{v:.3f}")}), hide_index=True)
        st.caption("ROC-AUC is shown where a segment has at least 50 buyers and 50 non-buyers among the test rows.")


def _drivers():
    """SHAP importance by feature and by feature group."""
    imp = run.table("importance")
    st.subheader("What drives the score (mean |SHAP|, log-odds)")

    def _importance():
        imp_fig = px.bar(imp.head(20), x="mean_abs_shap", y="label", color="group", orientation="h", height=550,
                         labels={"mean_abs_shap": "mean |SHAP| (log-odds)", "label": ""})
        imp_fig.update_yaxes(categoryorder="total ascending")
        grp = group_importance(str(run.artifacts), run.run_id)
        return imp_fig, px.bar(grp, x="group", y="mean_abs_shap", title="By feature group",
                               labels={"mean_abs_shap": "mean |SHAP|", "group": ""})

    c1, c2 = st.columns([2, 1])
    imp_fig, grp_fig = cached_figure(KEY + ("importance",), _importance)
    c1.plotly_chart(imp_fig)
    c2.plotly_chart(grp_fig)


def _shap_detail():
    """SHAP summary (beeswarm-like) and dependence plots on the seeded sample."""
    pts = run.table("shap_points")
    order = list(dict.fromkeys(pts["label"]))

    def _beeswarm():
        # at most BEESWARM_POINTS dots per feature (a seeded subsample): the same picture,
        # drawn by the browser in a fraction of the time
        bee_pts = pts.sample(frac=1.0, random_state=0).groupby("label", sort=False).head(BEESWARM_POINTS)
        rows = bee_pts["label"].map({l: i for i, l in enumerate(order)})
        bee_pts = bee_pts.assign(jitter=rows + np.random.default_rng(0).uniform(-0.3, 0.3, len(bee_pts)))
        bee = px.scatter(bee_pts, x="shap", y="jitter", color="value_rank", color_continuous_scale="Bluered",
                         opacity=0.5, hover_data={"value_text": True, "label": True, "jitter": False, "value_rank": False},
                         labels={"shap": "SHAP value (log-odds; right raises the score)", "value_rank": "feature value"},
                         height=520, title="SHAP summary: each dot a sampled customer, colour = the customer's value "
                                           "(blue low, red high)")
        bee.update_traces(marker={"size": 3})
        bee.update_yaxes(tickvals=list(range(len(order))), ticktext=order, title="", autorange="reversed")
        return bee

    def _dependence(feat):
        d = pts[pts["label"] == feat]
        d = d.sample(min(len(d), DEPENDENCE_POINTS), random_state=0)  # seeded: the same dots every time
        numeric = d["value"].notna().any()
        dep = px.scatter(d, x="value" if numeric else "value_text", y="shap", opacity=0.4,
                         labels={"value": feat, "value_text": feat, "shap": "SHAP value (log-odds)"},
                         title=f"How {feat} moves the score")
        dep.update_traces(marker={"size": 4})
        return dep

    st.plotly_chart(cached_figure(KEY + ("beeswarm",), _beeswarm))
    feat = st.selectbox("Dependence plot for", order)
    st.plotly_chart(cached_figure(KEY + ("dependence", feat), lambda: _dependence(feat)))


def _training():
    """How the model was trained: tuning trials, class weights, calibration, reason agreement."""
    info = met.propensity_model
    with st.expander("How the model was trained: tuning trials, class weights, calibration"):
        st.write(f"Validation: {info.validation}; {info.n_trees} trees; parameters {info.params}. "
                 f"Tuning took {info.tuning_seconds} s (Optuna TPE, seeded, {len(info.trials)} trials).")
        if info.tuning_stopped_by_time:
            st.warning("Tuning stopped at its time cap (`tune_seconds`) before its trials were done: a faster machine "
                       "would try more of them on the same data, so this model can differ from one trained there.")
        spw = info.scale_pos_weight
        st.write(f"scale_pos_weight = {spw['value']:.2f}: validation PR-AUC {spw['val_pr_auc_on']:.4f} on vs "
                 f"{spw['val_pr_auc_off']:.4f} off; {'used' if spw['used'] else 'not used'}.")
        st.dataframe(pd.DataFrame(info.trials), hide_index=True)
        agree = met.reason_agreement
        st.write(f"Reasons: {agree.method}; top-3 features agree on {agree.top3_agreement:.1%} of "
                 f"{agree.rows:,} seeded rows (largest difference {agree.max_abs_diff:.1e} log-odds).")


def _lookup():
    """A customer's score, decile, segment and reasons."""
    st.subheader("Look up a customer")
    scored = run.table("scored")
    cid = st.text_input("Customer id", placeholder=str(scored["customer_id"].iloc[0]))
    if cid:
        hit = scored[scored["customer_id"].astype(str) == cid.strip()]
        if hit.empty:
            st.warning(f"No customer with id '{cid.strip()}' in this run's table.")
        else:
            r = hit.iloc[0]
            c = st.columns(3)
            c[0].metric("Propensity", f"{r['propensity']:.1%}")
            c[1].metric("Decile", int(r["propensity_decile"]), help="1 = the top 10% of scores")
            c[2].metric("Segment", run.segment_names().get(int(r["segment_id"]), r["segment_name"]))
            for k in ("reason_1", "reason_2", "reason_3"):
                if k in r and r[k]:
                    st.markdown(f"- {r[k]}")


# One section at a time: the browser draws only the open tab's charts (tabs with
# on_change="rerun" report which one is open), which keeps the page quick to draw.
SECTIONS = {"Quality": _quality, "Calibration": _calibration_section, "Lift, capture and budget": _lift_section,
            "By segment": _segment_section, "What drives the score": _drivers, "SHAP summary and dependence": _shap_detail,
            "Look up a customer": _lookup}
for tab, section in zip(st.tabs(list(SECTIONS), key="propensity_tab", on_change="rerun"), SECTIONS.values()):
    if tab.open:
        with tab:
            section()
