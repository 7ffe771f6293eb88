"""This week: the handful of actions worth taking now, ranked by what they are expected to
bring, each one click from a ready cohort with a holdout; who to leave alone; how many
customers to contact; the model's quality in one sentence (:func:`core.actions.views.this_week`)."""
import streamlit as st

from core import formats as F
from ui import active_dataset, currency, require_run, this_week

run = require_run()
week = this_week(run)
met, man = run.metrics(), run.manifest()
cur = currency(run)
x = met.xgboost

st.title("This week")
verb = run.target_future.removeprefix("will ")
st.write(f"**{F.count(week['customers'])} customers** in *{man.dataset}*; the model expects about "
         f"**{F.count(week['expected_buyers'])}** of them to {verb}.")
st.caption(f"Model quality: **{met.grade.grade}**. Customers in its top 10% are {F.times(x.lift_top_decile)} as "
           f"likely as the average customer to {verb}, checked on {F.count(x.rows)} customers it had not seen. The "
           "figures behind this are on the analysts' pages (Propensity, Run overview).")

seg = met.segmentation
if seg.fallback_reason:
    st.warning(f"The segments below are even slices of the customers, not natural groups: {seg.fallback_reason}. "
               "Target by the chance to buy rather than by persona.")

st.subheader("Actions worth taking now")
actions = week["actions"]
if actions.empty:
    st.info("Every group of customers is best left alone this week: none is likely enough to buy, or valuable "
            "enough, for a paid contact.")
for i, a in enumerate(actions.to_dict("records"), start=1):
    with st.container(border=True):
        st.markdown(f"**{i}. {a['action']}** for *{a['segment_name']}* ({a['band']} chance to buy)")
        money = a.get("expected_revenue")
        worth = f" · about **{F.money(money, cur, short=True)}** expected revenue" if money == money and money else ""
        st.markdown(f"{F.count(a['customers'])} customers · about **{F.count(a['expected_buyers'])}** expected "
                    f"buyers{worth}")
        st.caption(a["why"])
        rate, need, small = a["mean_propensity"], a["holdout_per_group"], a.get("detectable_lift")
        if need is not None and need == need and 2 * need <= a["customers"]:
            st.caption(f"Hold out {F.count(need)} of them (not contacted) to measure the campaign: enough to see a "
                       f"rise from {F.share(rate)} to {F.share(rate * 1.1)} ({F.points(rate * 0.1)}, +10%).")
        elif small is not None and small == small:
            st.caption(f"Hold out half of them ({F.count(a['customers'] // 2)}) to measure the campaign: the smallest "
                       f"rise it can then see is {F.points(rate * small)} (+{small:.0%}).")
        else:
            st.caption("Too few customers to measure this campaign's effect with a holdout.")
        if st.button("Build this cohort", key=f"build_{i}", type="primary" if i == 1 else "secondary"):
            params = {"segment": str(int(a["segment_id"])), "band": a["band"], "action": a["action"],
                      **({"dataset": dataset} if (dataset := active_dataset()) else {})}
            st.switch_page("pages/cohort.py", query_params=params)

alone = week["leave_alone"]
if alone["customers"]:
    names = "; ".join(f"*{n}*" for n in alone["segments"][:3]) + ("; and others" if len(alone["segments"]) > 3 else "")
    st.subheader("Leave alone")
    st.write(f"{F.count(alone['customers'])} customers ({F.share(alone['share'], 0)}), mostly in {names}: unlikely "
             f"to buy soon and of low past value. Newsletter only, no paid contact; about "
             f"{F.count(alone['expected_buyers'])} of them may buy anyway.")

st.subheader("How many to contact")
lines = [f"- to reach **{F.share(a['target'], 0)}** of the expected buyers, contact the **{F.count(a['contacts'])}** "
         f"customers with the highest scores ({F.share(a['share_of_customers'], 0)} of all)"
         for a in week["audiences"]]
st.markdown("\n".join(lines))
st.caption("Expected buyers are the sum of the calibrated probabilities"
           + (". Expected revenue is what these customers are expected to spend, not what a campaign adds: the holdout "
              "measures that." if "expected_revenue" in actions and actions["expected_revenue"].notna().any() else
              ", what they are expected to do anyway, not what a campaign adds: the holdout measures that."))
with st.expander("Analyst details"):
    st.write(f"Actions are the playbook's for each segment and propensity band (high: top 30% of scores, medium: "
             f"next 40%, low: bottom 30%), ranked by {actions['ranked_by'].iloc[0] if len(actions) else 'expected buyers'}. "
             f"Holdouts: two-proportion test, alpha 0.05, power 0.8, sized to detect a +10% relative rise over the "
             f"cell's mean calibrated probability. Test figures: ROC-AUC {F.score(x.roc_auc)}, PR-AUC "
             f"{F.score(x.pr_auc)}; {met.grade.explanation}.")
    shown = [c for c in ("segment_name", "band", "action", "customers", "mean_propensity", "expected_buyers",
                         "expected_revenue", "holdout_per_group") if c in actions]
    st.dataframe(actions[shown].round({"expected_buyers": 0, "expected_revenue": 0}), hide_index=True, column_config={
        "segment_name": "segment", "customers": st.column_config.NumberColumn(format="localized"),
        "mean_propensity": st.column_config.NumberColumn("mean probability", format="percent"),
        "expected_buyers": st.column_config.NumberColumn("expected buyers", format="localized"),
        "expected_revenue": st.column_config.NumberColumn("expected revenue", format="localized"),
        "holdout_per_group": st.column_config.NumberColumn("holdout per group", format="localized")})
