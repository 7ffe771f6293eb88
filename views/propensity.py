"""Propensity: test metrics, ROC and PR curves, lift, SHAP importance."""
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from views.common import require_run

run = require_run()
met = run.json("metrics")

st.title("Propensity model")
st.write(f"Predicts, for each customer, the probability that they {run.target_label}.")
rows = [{"model": k, "ROC-AUC": round(met[k]["roc_auc"], 3), "PR-AUC (average precision)": round(met[k]["pr_auc"], 3),
         "lift, top decile": round(met[k]["lift_top_decile"], 2), "test rows": f"{met[k]['rows']:,}"}
        for k in ("xgboost", "logistic", "oracle") if k in met]
st.dataframe(pd.DataFrame(rows), hide_index=True)
st.caption("Held-out test rows. PR-AUC is average precision (step-wise), not a trapezoid area; "
           "a random ranking scores the base rate."
           + (" 'oracle' is the generator's true propensity: the ceiling on the default data." if "oracle" in met else ""))

c1, c2 = st.columns(2)
roc = go.Figure()
pr = go.Figure()
for k in ("xgboost", "logistic"):
    cv = met[f"curves_{k}"]
    roc.add_trace(go.Scatter(x=cv["roc"]["fpr"], y=cv["roc"]["tpr"], name=k))
    pr.add_trace(go.Scatter(x=cv["pr"]["recall"], y=cv["pr"]["precision"], name=k))
roc.add_trace(go.Scatter(x=[0, 1], y=[0, 1], name="random", line={"dash": "dot"}))
roc.update_layout(title="ROC curve", xaxis_title="false positive rate", yaxis_title="true positive rate")
pr.update_layout(title="Precision-recall curve", xaxis_title="recall", yaxis_title="precision")
c1.plotly_chart(roc)
c2.plotly_chart(pr)

dec = pd.DataFrame(met["deciles_xgboost"])
st.subheader("Lift and cumulative gains by decile (XGBoost, test rows)")
c1, c2 = st.columns(2)
c1.plotly_chart(px.bar(dec, x="decile", y="lift", title="Lift by decile (1 = top 10%)"))
gains = pd.concat([pd.DataFrame({"cum_customers_share": [0.0], "cum_buyers_share": [0.0]}),
                   dec[["cum_customers_share", "cum_buyers_share"]]])
gain_fig = px.line(gains, x="cum_customers_share", y="cum_buyers_share", markers=True, title="Cumulative gains",
                   labels={"cum_customers_share": "share of customers contacted", "cum_buyers_share": "share of buyers reached"})
gain_fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], name="random", line={"dash": "dot"}))
c2.plotly_chart(gain_fig)

imp = run.table("importance")
st.subheader("Feature importance (mean |SHAP|, log-odds)")
imp_fig = px.bar(imp.head(20), x="mean_abs_shap", y="label", color="group", orientation="h", height=550,
                 labels={"mean_abs_shap": "mean |SHAP| (log-odds)", "label": ""})
imp_fig.update_yaxes(categoryorder="total ascending")
st.plotly_chart(imp_fig)
