"""Cohort builder: pick segments, a propensity range and optional feature filters, see what
the cohort is worth, split a seeded holdout sized by a power calculation, export it as CSV
and save it to the activation database, where the marketing tools read it
(:func:`core.actions.campaigns.build_cohort`, :func:`core.actions.campaigns.save_cohort`).
Campaign readout: after the campaign, join its outcomes to a cohort and see whether the
contacted customers bought more than the holdout (:func:`core.actions.campaigns.readout`)."""
from datetime import date

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core import formats as F
from core.actions import campaigns, views
from core.errors import DataError
from ui import (
    activation_db,
    csv_download,
    currency,
    filter_control,
    require_run,
    saved_cohorts,
    settings,
    show_error,
    this_week,
)

run = require_run()
cfg = settings()
st.title("Cohort builder")
build_tab, readout_tab = st.tabs(["Build a cohort", "Campaign readout"])


def _prefill() -> dict:
    """What the This week page asked for (``?segment=ID&band=high&action=...`` in the URL):
    ``{"segments": [id], "band": band, "action": text}``, or {} when the URL holds none (or
    none that fits this run)."""
    q = st.query_params
    try:
        seg = int(q.get("segment", ""))
    except ValueError:
        return {}
    band = q.get("band")
    if seg not in run.segment_names() or band not in views.BANDS:
        return {}
    return {"segments": [seg], "band": band, "action": q.get("action") or None}


def _choice() -> dict:
    """The widgets of who to contact: segments, a propensity band, score or percentile range,
    feature filters; returns them as :func:`core.actions.campaigns.build_cohort`'s arguments."""
    names = run.segment_names()
    ids = sorted(names)
    pre = _prefill()
    if pre.get("action"):
        st.info(f"Built for **{pre['action']}** on *{names[pre['segments'][0]]}* ({pre['band']} chance to buy), "
                "from This week. Change anything below.")
    chosen = st.multiselect("Segments", ids, default=pre.get("segments", ids),
                            format_func=lambda i: f"{i}: {names.get(i, i)}")
    modes = ["propensity band", "score (probability)", "percentile (100 = highest score)"]
    mode = st.radio("Who within them", modes, index=0 if pre else 1, horizontal=True,
                    help="Bands are the matrix's: high = the top 30% of scores, medium = the next 40%, low = the rest.")
    if mode == modes[0]:
        bands = list(views.BANDS)
        band = st.radio("Chance to buy", bands, index=bands.index(pre.get("band", "high")), horizontal=True)
        rule = {"segments": chosen, "deciles": list(views.BANDS[band])}
    elif mode == modes[1]:
        lo, hi = st.slider("Propensity", 0.0, 1.0, (0.3, 1.0), step=0.01)
        rule = {"segments": chosen, "min_propensity": lo, "max_propensity": hi}
    else:
        lo, hi = st.slider("Percentile", 0, 100, (90, 100))
        rule = {"segments": chosen, "min_percentile": lo, "max_percentile": hi}
    if pre.get("action") and rule.get("deciles") == list(views.BANDS[pre["band"]]) and chosen == pre["segments"]:
        rule["action"] = pre["action"]  # the export names the action only while the cohort is the one it was for
    labels = run.feature_labels()
    features = run.table("features")
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
        st.caption("Customers with a filtered value not recorded are left out.")
        rule["features"] = filters
    return rule


def _summary(s: dict) -> None:
    c = st.columns(4)
    c[0].metric("Customers", F.count(s["customers"]), help=f"{F.share(s['share_of_customers'])} of all customers")
    c[1].metric("Expected buyers", F.count(s["expected_buyers"]), help="Sum of the calibrated probabilities.")
    c[2].metric("Share of all expected buyers", F.share(s["share_of_expected_buyers"]),
                help="Of all customers' expected buyers, the share this cohort holds.")
    if "expected_revenue" in s:
        c[3].metric("Expected revenue", F.money(s["expected_revenue"], currency(run), short=True),
                    help="Sum over the cohort of P(buy) x the customer's expected spend per purchase (Gamma-Gamma).")
    else:
        c[3].metric("Chance to buy", F.share(s["expected_precision"]),
                    help=f"Mean calibrated probability in the cohort; {F.times(s['lift'])} the average customer's.")


def _audiences() -> None:
    """How many to contact to reach 50%, 70% and 90% of the expected buyers."""
    sizes = this_week(run)["audiences"]
    st.caption("To reach " + "; ".join(f"{F.share(a['target'], 0)} of the expected buyers, contact the "
                                       f"{F.count(a['contacts'])} customers with the highest scores"
                                       for a in sizes)
               + " (percentile mode: the top share of all customers).")


def _build() -> None:
    st.write(f"Choose who to contact: segments and a range of the probability that a customer {run.target_future}.")
    rule = _choice()
    try:
        cohort = campaigns.build_cohort(cfg, run.run_id, **rule)
    except DataError as exc:
        show_error(exc)
        return
    _audiences()
    if cohort.as_of:
        st.caption(f"Built from snapshots: the cohort holds each customer once, as of the latest cutoff "
                   f"({cohort.as_of}). For scores as of today, score the log again (`python -m core score --log LOG`).")
    _summary(cohort.summary)
    if cohort.customers == 0:
        st.info("No customer matches: widen the propensity range, add segments or loosen the feature filters.")
        return
    st.subheader("Holdout, to measure the campaign's uplift")
    if st.checkbox("Split off a random holdout group (not contacted)", value=True,
                   help="Without a holdout the campaign's effect can never be measured."):
        lift = st.number_input("Smallest relative rise to detect (0.10 = +10%)", 0.01, 5.0, 0.10, step=0.01)
        try:
            cohort = campaigns.build_cohort(cfg, run.run_id, holdout_for=lift, **rule)
        except DataError as exc:
            st.warning(f"{exc}. The cohort below has no holdout.")
        else:
            _holdout_text(cohort, lift)
    _export(cohort)


def _holdout_text(cohort: campaigns.Cohort, lift: float) -> None:
    d = cohort.design
    rate = d["expected_rate"]
    st.write(f"Hold out **{F.count(cohort.holdout)}** customers, drawn at random (seed {cfg.seed}), and contact the "
             f"other {F.count(len(cohort.export) - cohort.holdout)}. Sized to see a rise from {F.share(rate)} to "
             f"{F.share(rate * (1 + lift))} ({F.points(rate * lift)}, +{lift:.0%}).")
    small = d.get("detectable_lift")
    st.caption("The smallest rise these groups can see: " + (
        f"{F.points(rate * small)} (+{small:.0%})." if small is not None else "none below +1000%.")
        + f" Two-proportion test, alpha 0.05, power 0.8; {F.count(d['needed_per_group'])} per group needed.")
    for note in cohort.notes:
        st.warning(f"The cohort is too small for that: {note}.")


def _export(cohort: campaigns.Cohort) -> None:
    """The cohort's rows, its download, and the form that saves it to the activation database."""
    csv_download("Download cohort CSV", cohort.export, f"cohort_{run.run_id}_{date.today().isoformat()}.csv")
    preview = [c for c in ("customer_id", "persona", "propensity", "group", "reason_1") if c in cohort.export]
    st.dataframe(cohort.export.head(50)[preview], hide_index=True, column_config={
        "customer_id": st.column_config.TextColumn("customer", width="small"),
        "persona": st.column_config.TextColumn(width="medium"),
        "propensity": st.column_config.NumberColumn("chance to buy", format="percent", width="small"),
        "group": st.column_config.TextColumn(width="small"),
        "reason_1": st.column_config.TextColumn("main reason", width="large")})
    st.caption("The first 50 customers. The file's columns: customer_id, segment_id, persona, action (when built for "
               "one), propensity (the probability, 4 decimals), propensity_decile, reason_1..3, group (contact or "
               "holdout).")
    with st.form("save_cohort"):
        st.write(f"Save it where the marketing tools read it: the activation database "
                 f"`{campaigns.shown_database(cfg)}` (tables `cohorts` and `cohort_members`).")
        name = st.text_input("Cohort name", placeholder="e.g. December win-back, high propensity")
        unmeasured = st.checkbox("Save it without a holdout: its effect can never be measured",
                                 value=False) if cohort.holdout == 0 else True
        save = st.form_submit_button("Save the cohort to the database")
    if not save:
        return
    if not unmeasured:
        st.warning("This cohort has no holdout, so the campaign's effect could never be read out. Tick the box to "
                   "save it anyway, or split off a holdout above.")
        return
    try:
        saved = campaigns.save_cohort(cfg, cohort, name, db=activation_db(campaigns.database_url(cfg)))
    except DataError as exc:
        show_error(exc)
        return
    if saved.database_error:
        st.error(saved.database_error)
        return
    saved_cohorts.clear()
    st.success(f"Saved as cohort `{saved.cohort_id}` ({len(cohort.export):,} customers, {cohort.holdout:,} held "
               "out). After the campaign, read it out on the Campaign readout tab or with `python -m core readout "
               f"--cohort-id {saved.cohort_id} --outcomes FILE`.")


@st.cache_data(show_spinner="Reading the campaign out...", max_entries=16)
def _readout(cohort_id: str | None, members: pd.DataFrame | None, cohort_name: str, outcomes: pd.DataFrame,
             outcomes_name: str, sized_for: float | None, run_id: str | None, url: str):
    """:func:`core.actions.campaigns.readout`, once per cohort, outcomes and design (not saved:
    the page's button saves it)."""
    return campaigns.readout(cfg, cohort_id=cohort_id, cohort=members, cohort_source=cohort_name, outcomes=outcomes,
                             outcomes_source=outcomes_name, sized_for=sized_for, run_id=run_id, save=False,
                             db=activation_db(url) if cohort_id else None)


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:+.2f}"


def _verdict(r: dict) -> None:
    """The groups side by side and what the uplift's interval says."""
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
    verdict = ("The campaign worked: the contacted customers bought more than the holdout" if u["absolute_ci"][0] > 0
               else "The campaign backfired: the contacted customers bought less than the holdout"
               if u["absolute_ci"][1] < 0 else
               "The readout is inconclusive: the difference could be chance (its interval covers zero)")
    st.write(f"**{verdict}.** Uplift {_pct(u['absolute'])} points, 95% interval "
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


def _show(r: dict) -> None:
    """A readout: the groups, the uplifts with intervals, power, calibration, segments and bands."""
    for n in r["notes"]:
        st.info(n)
    _verdict(r)
    p, u = r["power"], r["overall"]["uplift"]
    shown = u["absolute_ci"][0] > 0 or u["absolute_ci"][1] < 0
    # green only for a measured effect with enough power: an inconclusive readout is never shown as good news
    (st.success if shown and p["enough"] else st.warning if p["enough"] is False else st.info)(views.power_text(p))
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
        if rows:
            st.subheader(title)
            _rows_table(rows)


def _rows_table(rows: list[dict]) -> None:
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


def _pick_cohort() -> tuple[str | None, pd.DataFrame | None, str, float | None] | None:
    """The cohort to read out: a saved one (its id) or an uploaded export (its table, name and
    the uplift its holdout was sized for); None until one is chosen."""
    url = campaigns.database_url(cfg)
    saved = pd.DataFrame()
    try:
        saved = saved_cohorts(url)
    except DataError as exc:
        st.warning(f"Saved cohorts are not available: {exc}")
    source = st.radio("The cohort", ["a saved cohort", "a cohort export (CSV)"], horizontal=True,
                      index=0 if len(saved) else 1)
    if source == "a saved cohort":
        if saved.empty:
            st.info("No cohort saved yet: save one on the Build a cohort tab.")
            return None
        names = saved.set_index("cohort_id")
        pick = st.selectbox("Saved cohort", saved["cohort_id"].tolist(), format_func=lambda i: (
            f"{names.at[i, 'name']} ({i}; {int(names.at[i, 'customers']):,} customers, run {names.at[i, 'run_id']})"))
        return pick, None, f"cohort {pick}", None
    up = st.file_uploader("Cohort export (customer_id, group; as the Build tab downloads it)", key="ro_cohort")
    if up is None:
        return None
    lift = st.number_input("The uplift its holdout was sized for (0 = not said)", 0.0, 5.0, 0.0, step=0.01)
    try:
        return None, views.read_upload(up.getvalue(), up.name), up.name, lift or None
    except DataError as exc:
        show_error(exc)
        return None


def _readout_tab() -> None:
    st.write("After a campaign: the cohort it went to (its contact and holdout groups) and what the customers did in "
             "the campaign window (customer id, a purchase flag, and revenue if you have it). The readout says "
             "whether contacting made more customers buy than the holdout, with 95% intervals.")
    picked = _pick_cohort()
    out = st.file_uploader("Outcomes over the campaign window (customer id, purchase flag, revenue)", key="ro_outcomes")
    if picked is None or out is None:
        return
    cohort_id, members, cohort_name, sized_for = picked
    # a saved cohort is read against its own run, an export against the run its run_id column names
    # (an export without one, a campaign from another tool, against none): never the current run by default
    run_id = None
    try:
        outcomes = views.read_upload(out.getvalue(), out.name)
        result = _readout(cohort_id, members, cohort_name, outcomes, out.name, sized_for, run_id,
                          campaigns.database_url(cfg))
    except DataError as exc:
        show_error(exc)
        return
    if result.run_id and result.run_id != run.run_id:
        st.caption(f"This cohort was built from run {result.run_id}, not the current run: read out with that run's "
                   "scores and segment names.")
    st.subheader(f"Readout of {result.cohort}")
    _show(result.result)
    if result.run_id and st.button("Save this readout",
                                   help="Under the runs folder's monitoring/<run id>/ (readout-*.json)."):
        st.success(f"Saved {campaigns.save_readout(cfg, result)}.")


with build_tab:
    _build()
with readout_tab:
    _readout_tab()
