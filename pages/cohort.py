"""Cohort builder: pick segments, a propensity range and optional feature filters, see what
the cohort is worth, split a seeded holdout sized by a power calculation, export it as CSV
and save it to the activation database (``core.activation.database``), where the marketing tools read
it. Campaign readout: after the campaign, join its outcomes to a cohort and see whether the
contacted customers bought more than the holdout (``core.activation.readout``)."""
from datetime import date

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.activation import campaign_tables, cohorts, database, readout
from core.activation.exports import csv_bytes
from core.errors import DataError
from core.inputs.tables import read_bytes
from core.runs import reports
from ui import RunView, activation_db, filter_control, require_run, saved_cohort, saved_cohorts, settings, show_error

run = require_run()
cfg = settings()
st.title("Cohort builder")
build_tab, readout_tab = st.tabs(["Build a cohort", "Campaign readout"])


def _build() -> None:
    scored = run.table("scored")
    features = run.table("features")  # same rows and order as the scored table (the run writes both)
    names = run.segment_names()
    st.write(f"Choose who to contact: segments and a range of the probability that a customer {run.target_label}.")
    if run.spec().snapshot_column:
        scored, features, as_of = cohorts.latest_snapshot(scored, features)
        if as_of:
            st.caption(f"Built from snapshots: the cohort holds each customer once, as of the latest cutoff ({as_of}). "
                       "For scores as of today, score the log again (`python -m core score --log LOG`).")
    ids = sorted(int(i) for i in scored["segment_id"].unique())
    chosen = st.multiselect("Segments", ids, default=ids, format_func=lambda i: f"{i}: {names.get(i, i)}")
    mode = st.radio("Propensity range on", ["score (probability)", "percentile (100 = highest score)"],
                    horizontal=True)
    rule = {"segments": chosen}
    if mode.startswith("score"):
        lo, hi = st.slider("Propensity", 0.0, 1.0, (0.3, 1.0), step=0.01)
        mask = cohorts.cohort_mask(scored, chosen, min_propensity=lo, max_propensity=hi)
        rule.update(min_propensity=lo, max_propensity=hi)
    else:
        lo, hi = st.slider("Percentile", 0, 100, (90, 100))
        mask = cohorts.cohort_mask(scored, chosen, min_percentile=lo, max_percentile=hi)
        rule.update(min_percentile=lo, max_percentile=hi)
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
            filters[col] = (st.slider(labels[col], lo_v, hi_v, (lo_v, hi_v), key=f"f_{col}") if lo_v < hi_v
                            else (lo_v, hi_v))
    if filters:
        mask = mask & cohorts.feature_mask(features, filters)
        st.caption("Customers with a filtered value not recorded are left out.")
        rule["features"] = {k: list(v) for k, v in filters.items()}
    s = cohorts.cohort_summary(scored, mask)
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
        return

    st.subheader("Holdout, to measure the campaign's uplift")
    use_holdout = st.checkbox("Split off a random holdout group (not contacted)", value=False)
    holdout, need, design = 0, None, None
    if use_holdout:
        lift = st.number_input("Smallest relative uplift to detect (0.10 = +10%)", 0.01, 5.0, 0.10, step=0.01)
        try:
            design = cohorts.holdout_design(s, lift)
            holdout, need = design.pop("holdout"), design["needed_per_group"]
        except ValueError:
            st.warning(f"An uplift of {lift:.0%} on an expected rate of {s['expected_precision']:.1%} would push the "
                       "rate above 100%: choose a smaller uplift to size a holdout. The cohort below has no holdout.")
    if use_holdout and need is not None:
        st.write(f"Two-proportion test, alpha 0.05, power 0.8, expected rate {design['expected_rate']:.1%}: "
                 f"**{need:,}** customers per group. Holdout: **{holdout:,}** customers, drawn at random (seed {cfg.seed}).")
        if holdout < need:
            st.warning(f"The cohort is too small for that: with {holdout:,} held out (half the cohort, the most a "
                       f"holdout takes) the test cannot reliably detect a {lift:.0%} uplift. Widen the cohort or accept "
                       "a larger detectable uplift.")
    export = cohorts.cohort_export(scored, mask, holdout, cfg.seed)
    st.dataframe(export.head(50), hide_index=True)
    # the CSV is made when the button is clicked (a callable), not on every rerun of the page
    st.download_button("Download cohort CSV", lambda: csv_bytes(export),
                       file_name=f"cohort_{run.run_id}_{date.today().isoformat()}.csv", mime="text/csv",
                       on_click="ignore")
    st.caption("Columns: customer_id, segment_id, persona, propensity, propensity_decile, reason_1..3, group "
               "(contact or holdout).")
    url = database.shown_url(database.database_url(cfg))
    with st.form("save_cohort"):
        st.write(f"Save it where the marketing tools read it: the activation database `{url}` (tables `cohorts` and "
                 "`cohort_members`).")
        name = st.text_input("Cohort name", placeholder="e.g. December win-back, high propensity")
        save = st.form_submit_button("Save the cohort to the database")
    if save:
        rule.update(holdout_design=design, seed=cfg.seed)
        try:
            cid = activation_db(database.database_url(cfg)).write_cohort(export, name, run.run_id, rule)
            saved_cohorts.clear()
        except DataError as exc:
            show_error(exc)
        else:
            st.success(f"Saved as cohort `{cid}` ({len(export):,} customers, {holdout:,} held out). After the "
                       "campaign, read it out on the Campaign readout tab or with `python -m core readout --cohort-id "
                       f"{cid} --outcomes FILE`.")


@st.cache_data(show_spinner="Reading the campaign out...", max_entries=16)
def _readout(members: pd.DataFrame, outcomes: pd.DataFrame, sized_for: float | None, seed: int,
             run_id: str, _names: dict) -> dict:
    """:func:`core.activation.readout.campaign_readout`, once per cohort, outcomes and design."""
    return readout.campaign_readout(members, outcomes, sized_for=sized_for, seed=seed, segment_names=_names)


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:+.2f}"


def _show(r: dict) -> None:
    """A readout: the groups, the uplifts with intervals, power, calibration, segments and bands."""
    for n in r["notes"]:
        st.info(n)
    o = r["overall"]
    g = {row["group"]: row for row in o["groups"]}
    u = o["uplift"]
    c = st.columns(4)
    c[0].metric("Conversion, contacted", f"{100 * g['contact']['conversion']:.2f}%",
                help=f"{g['contact']['buyers']:,} buyers of {g['contact']['customers']:,}")
    c[1].metric("Conversion, holdout", f"{100 * g['holdout']['conversion']:.2f}%",
                help=f"{g['holdout']['buyers']:,} buyers of {g['holdout']['customers']:,}")
    c[2].metric("Uplift (points)", _pct(u["absolute"]),
                help=f"95% interval {_pct(u['absolute_ci'][0])} to {_pct(u['absolute_ci'][1])} (Newcombe)")
    c[3].metric("Incremental buyers", f"{u['incremental_buyers']:,.0f}",
                help=f"95% interval {u['incremental_buyers_ci'][0]:,.0f} to {u['incremental_buyers_ci'][1]:,.0f}")
    rel = (f"relative uplift {_pct(u['relative'])}% [{_pct(u['relative_ci'][0])}, {_pct(u['relative_ci'][1])}]"
           if u["relative"] is not None else f"relative uplift {u.get('relative_note', 'n/a')}")
    verdict = ("worked: the interval is above zero" if u["absolute_ci"][0] > 0 else
               "backfired: the interval is below zero" if u["absolute_ci"][1] < 0 else
               "no uplift shown: the interval covers zero")
    st.write(f"**The campaign {verdict}.** Absolute uplift {_pct(u['absolute'])} points, 95% interval "
             f"[{_pct(u['absolute_ci'][0])}, {_pct(u['absolute_ci'][1])}]; {rel}.")
    if "revenue_uplift" in o:
        v = o["revenue_uplift"]
        st.write(f"Revenue per customer: contacted {g['contact']['revenue_per_customer']:,.2f}, holdout "
                 f"{g['holdout']['revenue_per_customer']:,.2f}; uplift {v['per_customer']:+,.2f} "
                 f"[{v['per_customer_ci'][0]:+,.2f}, {v['per_customer_ci'][1]:+,.2f}] (bootstrap, "
                 f"{r['n_boot']:,} resamples); incremental revenue {v['incremental']:,.0f} "
                 f"[{v['incremental_ci'][0]:,.0f}, {v['incremental_ci'][1]:,.0f}].")
    fig = go.Figure(go.Bar(x=["contacted", "holdout"], y=[100 * g["contact"]["conversion"],
                                                           100 * g["holdout"]["conversion"]],
                           error_y={"type": "data", "symmetric": False,
                                    "array": [100 * (x["conversion_ci"][1] - x["conversion"]) for x in g.values()],
                                    "arrayminus": [100 * (x["conversion"] - x["conversion_ci"][0]) for x in g.values()]}))
    fig.update_layout(height=300, yaxis_title="conversion (%), 95% interval", margin={"t": 20})
    st.plotly_chart(fig)
    p = r["power"]
    (st.info if p["enough"] is None else st.success if p["enough"] else st.warning)(readout.power_text(p))
    if r["calibration"]:
        cal = pd.DataFrame([{"group": k, "predicted": v["predicted"], "observed": v["observed"],
                             "observed 95% low": v["observed_ci"][0], "observed 95% high": v["observed_ci"][1]}
                            for k, v in r["calibration"].items()])
        st.caption("The model on the campaign: mean predicted propensity against the observed conversion. The holdout "
                   "is the model's own check (it predicts buying without a contact); the contacted group's gap is the "
                   "campaign's effect plus the model's error.")
        st.dataframe(cal, hide_index=True, column_config={c: st.column_config.NumberColumn(format="percent")
                                                          for c in cal.columns if c != "group"})
    for title, rows in (("By segment", r["by_segment"]), ("By propensity band", r["by_band"])):
        if not rows:
            continue
        st.subheader(title)
        table = []
        for row in rows:
            base = {"group": row["name"], "contacted": row["contact_customers"], "held out": row["holdout_customers"]}
            if "too_small" in row:
                table.append({**base, "readout": row["too_small"]})
                continue
            gg = {x["group"]: x for x in row["groups"]}
            uu = row["uplift"]
            table.append({**base, "conversion contacted": gg["contact"]["conversion"],
                          "conversion holdout": gg["holdout"]["conversion"],
                          "readout": f"uplift {_pct(uu['absolute'])} points [{_pct(uu['absolute_ci'][0])}, "
                                     f"{_pct(uu['absolute_ci'][1])}]"})
        cols = ["group", "contacted", "held out", "conversion contacted", "conversion holdout", "readout"]
        st.dataframe(pd.DataFrame(table).reindex(columns=cols), hide_index=True, column_config={
            "conversion contacted": st.column_config.NumberColumn(format="percent"),
            "conversion holdout": st.column_config.NumberColumn(format="percent")})


def _readout_tab() -> None:
    st.write("After a campaign: the cohort it went to (its contact and holdout groups) and what the customers did in "
             "the campaign window (customer id, a purchase flag, and revenue if you have it). The readout says "
             "whether contacting made more customers buy than the holdout, with 95% intervals.")
    url = database.database_url(cfg)
    saved = pd.DataFrame()
    try:
        saved = saved_cohorts(url)
    except DataError as exc:
        st.warning(f"Saved cohorts are not available: {exc}")
    source = st.radio("The cohort", ["a saved cohort", "a cohort export (CSV)"], horizontal=True,
                      index=0 if len(saved) else 1)
    pick, up = None, None
    if source == "a saved cohort":
        if saved.empty:
            st.info("No cohort saved yet: save one on the Build a cohort tab.")
            return
        names = saved.set_index("cohort_id")
        pick = st.selectbox("Saved cohort", saved["cohort_id"].tolist(), format_func=lambda i: (
            f"{names.at[i, 'name']} ({i}; {int(names.at[i, 'customers']):,} customers, run {names.at[i, 'run_id']})"))
    else:
        up = st.file_uploader("Cohort export (customer_id, group; as the Build tab downloads it)", key="ro_cohort")
        if up is None:
            return
        lift = st.number_input("The uplift its holdout was sized for (0 = not said)", 0.0, 5.0, 0.0, step=0.01)
    out = st.file_uploader("Outcomes over the campaign window (customer id, purchase flag, revenue)", key="ro_outcomes")
    if out is None:
        return
    # the cohort's members are read only now, once there is something to read them out against
    if pick is not None:
        try:
            meta, members = saved_cohort(url, pick)
            members = campaign_tables.cohort_members(members, f"cohort {pick}")
        except DataError as exc:
            show_error(exc)
            return
        sized_for = ((meta["filters"] or {}).get("holdout_design") or {}).get("relative_lift")
        label = f"cohort {pick} ('{meta['name']}')"
        run_id, names = meta["run_id"], {}
        try:  # the cohort's own run: its scores and names (another run's would be another model's)
            cohort_run = RunView(run_id)
            members = campaign_tables.with_scores(members, cohort_run.table("scored"))
            names = cohort_run.segment_names()
        except DataError:
            st.warning(f"This cohort's run {run_id} is no longer kept: the readout has no segments, bands or "
                       "calibration check.")
        if run_id != run.run_id:
            st.caption(f"This cohort was built from run {run_id}, not the current run: read out with that run's "
                       "scores and segment names.")
    else:
        try:
            members = campaign_tables.cohort_members(read_bytes(up.getvalue(), up.name), up.name)
        except DataError as exc:
            show_error(exc)
            return
        # an export carries its personas and propensities; its run is not known: saved with the current one
        label, sized_for, run_id, names = up.name, lift or None, run.run_id, {}
    try:
        outcomes = campaign_tables.outcome_table(read_bytes(out.getvalue(), out.name), out.name)
        r = _readout(members, outcomes, sized_for, cfg.seed, run_id, names)
    except DataError as exc:
        show_error(exc)
        return
    st.subheader(f"Readout of {label}")
    _show(r)
    if st.button("Save this readout", help="Under the runs folder's monitoring/<run id>/ (readout-*.json)."):
        path = reports.save_monitoring(cfg.artifacts_dir, run_id, "readout", {"run_id": run_id, "cohort": label, **r})
        st.success(f"Saved {path}.")


with build_tab:
    _build()
with readout_tab:
    _readout_tab()
