"""The stakeholder report of a run: one self-contained HTML file (Plotly's JavaScript
inlined once, so it opens without internet) and a Markdown version for pasting into
documents.

Contents: headline figures and the quality grade; the comparison table with 95% intervals;
ROC, precision-recall, calibration, lift and gains charts; feature importance (mean
|SHAP|); segment summaries and cards; the propensity-by-segment matrix with the
playbook's actions; clustering vs classification measured on the test rows; the
production recommendation; data quality and the latest drift report; provenance (data
hash, library versions, seed, settings). Templates are Jinja2 (``jinja2``, installed
with Streamlit).
"""
from __future__ import annotations

import html
import json

import pandas as pd
import plotly.graph_objects as go

from core.activation import playbook
from core.runs import reports, store
from core.runs.results import RunMetrics

RECOMMENDATION = [
    "Segments, refreshed monthly, for campaign design and messaging: each persona gets its own creative and offer; "
    "segment ids and hand-set names carry over between retrains, new and retired segments are flagged.",
    "Propensity, scored weekly or daily, for targeting and suppression: contact from the top down to the budget or "
    "the profit threshold; do not spend on the lowest deciles.",
    "Both combined in the segment x propensity matrix: the segment picks the message, the propensity band picks "
    "whether and how hard to push (the playbook's action per cell).",
    "A random holdout in every campaign, sized by a two-proportion power calculation, to measure uplift: propensity "
    "says who would buy, the holdout says who buys because of the campaign.",
]

_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{{ title }}</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #1f2328; line-height: 1.45; }
h1 { font-size: 1.8em; } h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .2em; margin-top: 1.8em; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: .9em; }
th, td { border: 1px solid #d0d7de; padding: .25em .6em; text-align: right; }
th { background: #f6f8fa; } td:first-child, th:first-child { text-align: left; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 1em; }
.card { border: 1px solid #d0d7de; border-radius: 6px; padding: .6em 1em; }
.card h3 { margin: .2em 0; } .muted { color: #57606a; font-size: .9em; }
.grade { font-size: 1.3em; font-weight: 600; }
</style></head><body>
<h1>{{ title }}</h1>
<p class="muted">Run <code>{{ man.run_id }}</code>, trained {{ man.created_at }} on {{ man.dataset }}
({{ "{:,}".format(man.customers) }} customers). Target: customers who {{ target_label }}.</p>
{% for s in sections %}<h2>{{ s.title }}</h2>
{{ s.html | safe }}
{% endfor %}
</body></html>
"""


def _table(df: pd.DataFrame) -> str:
    return df.to_html(index=False, escape=True, border=0, na_rep="-", float_format=lambda v: f"{v:,.3f}")


def _md(df: pd.DataFrame) -> str:
    cols = [str(c).replace("|", "\\|") for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "| " + " | ".join("---" for _ in cols) + " |"]
    for row in df.itertuples(index=False):
        cells = ["-" if v is None or (isinstance(v, float) and pd.isna(v)) else
                 f"{v:,.3f}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def _fig_html(fig: go.Figure, first: bool) -> str:
    fig.update_layout(height=380, margin={"l": 40, "r": 20, "t": 50, "b": 40})
    return fig.to_html(full_html=False, include_plotlyjs=True if first else False, config={"displaylogo": False})


def curve_figures(met: RunMetrics) -> tuple[go.Figure, go.Figure]:
    """ROC and precision-recall curves of XGBoost and the logistic baseline on the test rows,
    from a run's metrics (``curves_xgboost``, ``curves_logistic``: points thinned by
    :func:`core.models.evaluation.curves`). Shared by the report and the Propensity page."""
    roc, pr = go.Figure(), go.Figure()
    for cv, name in ((met.curves_xgboost, "XGBoost"), (met.curves_logistic, "logistic")):
        roc.add_trace(go.Scatter(x=cv["roc"]["fpr"], y=cv["roc"]["tpr"], name=name))
        pr.add_trace(go.Scatter(x=cv["pr"]["recall"], y=cv["pr"]["precision"], name=name))
    roc.add_trace(go.Scatter(x=[0, 1], y=[0, 1], name="random", line={"dash": "dot"}))
    roc.update_layout(title="ROC curve (test rows)", xaxis_title="false positive rate", yaxis_title="true positive rate")
    pr.update_layout(title="Precision-recall curve (test rows)", xaxis_title="recall", yaxis_title="precision")
    return roc, pr


def calibration_figure(met: RunMetrics) -> go.Figure:
    """Reliability curve (10 equal-width bins) before and after calibration, from the run's
    ``calibration`` (:func:`core.models.evaluation.calibration_table`)."""
    cal = met.calibration
    fig = go.Figure()
    for bins, name in ((cal.before, "before calibration"), (cal.after, f"after ({cal.method})")):
        t = pd.DataFrame(bins)
        fig.add_trace(go.Scatter(x=t["mean_predicted"], y=t["observed_rate"], mode="lines+markers", name=name,
                                 text=t["customers"], hovertemplate="predicted %{x:.3f}<br>observed %{y:.3f}<br>"
                                                                   "%{text:,} customers<extra></extra>"))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], name="perfect", line={"dash": "dot"}))
    fig.update_layout(title="Calibration (10 bins)", xaxis_title="mean predicted probability",
                      yaxis_title="observed rate")
    return fig


def lift_gains_figures(met: RunMetrics) -> tuple[go.Figure, go.Figure]:
    """Lift by score decile (1 = top 10%) and cumulative gains (share of buyers reached
    against share of customers contacted), from the run's ``deciles_xgboost``."""
    dec = pd.DataFrame(met.deciles_xgboost)
    lift = go.Figure(go.Bar(x=dec["decile"], y=dec["lift"]))
    lift.update_layout(title="Lift by decile (1 = top 10%)", xaxis_title="decile", yaxis_title="lift")
    gains = go.Figure(go.Scatter(x=[0, *dec["cum_customers_share"]], y=[0, *dec["cum_buyers_share"]],
                                 mode="lines+markers", name="model"))
    gains.add_trace(go.Scatter(x=[0, 1], y=[0, 1], name="random", line={"dash": "dot"}))
    gains.update_layout(title="Cumulative gains", xaxis_title="share of customers contacted",
                        yaxis_title="share of buyers reached")
    return lift, gains


def _charts(met: RunMetrics) -> list[go.Figure]:
    return [*curve_figures(met), calibration_figure(met), *lift_gains_figures(met)]


def build(run: store.Run) -> dict:
    """The report's sections for ``run``: ``{"title", "man", "target_label", "sections":
    [{"title", "html", "md"}]}`` (HTML and Markdown of each). Raises DataError when a file of
    the run cannot be read as its typed result."""
    man, met, spec = run.manifest(), run.metrics(), run.spec()
    names = run.segment_names()
    sections = [_headline(man, met), _evaluation(met), _importance(run), _segments(run, names),
                _matrix(run, names), _approach(run, spec.target), _section(
                    "Recommended production design", "<ul>" + "".join(f"<li>{html.escape(r)}</li>"
                                                                      for r in RECOMMENDATION) + "</ul>",
                    "\n".join(f"- {r}" for r in RECOMMENDATION)),
                _quality(run), _provenance(man, met)]
    return {"title": f"Customer intelligence report: {man.dataset}", "man": man,
            "target_label": spec.target_label, "sections": [s for s in sections if s is not None]}


def _section(title: str, html_body: str, md_body: str) -> dict:
    return {"title": title, "html": html_body, "md": md_body}


def _headline(man, met: RunMetrics) -> dict:
    x, grade = met.xgboost, met.grade
    head = pd.DataFrame([{"customers": f"{man.customers:,}", "base rate": f"{x.base_rate:.1%}",
                          "segments": man.n_segments, "ROC-AUC": f"{x.roc_auc:.3f}",
                          "PR-AUC (average precision)": f"{x.pr_auc:.3f}",
                          "top-decile lift": f"{x.lift_top_decile:.2f}x", "grade": grade.grade}])
    return _section("Headline", f'<p class="grade">Model quality: {html.escape(grade.grade)}</p>'
                    f'<p class="muted">{html.escape(grade.explanation)}</p>' + _table(head),
                    f"**Model quality: {grade.grade}**. {grade.explanation}\n\n" + _md(head))


def _evaluation(met: RunMetrics) -> dict:
    comp = pd.DataFrame([{"model": r["model"], "ROC-AUC": r["roc_auc"],
                          "ROC-AUC 95% CI": f"[{r['roc_auc_ci'][0]:.3f}, {r['roc_auc_ci'][1]:.3f}]",
                          "PR-AUC": r["pr_auc"], "PR-AUC 95% CI": f"[{r['pr_auc_ci'][0]:.3f}, {r['pr_auc_ci'][1]:.3f}]",
                          "Brier": r["brier"], "ECE": r["ece"], "lift@10%": r["lift_top_decile"]}
                         for r in met.comparison])
    charts = "".join(_fig_html(f, i == 0) for i, f in enumerate(_charts(met)))
    rows = met.xgboost.rows
    return _section("Evaluation (held-out test rows)",
                    _table(comp) + f'<p class="muted">{rows:,} test rows, touched once; PR-AUC is average '
                    "precision; intervals are 95% percentile bootstrap (1,000 seeded resamples).</p>" + charts,
                    _md(comp) + f"\n\n{rows:,} test rows; PR-AUC is average precision; 95% bootstrap intervals.")


def _importance(run: store.Run) -> dict:
    imp = run.table("importance")[["label", "group", "mean_abs_shap"]].head(15)
    imp = imp.rename(columns={"label": "feature", "mean_abs_shap": "mean |SHAP| (log-odds)"})
    return _section("What drives the score (feature importance)", _table(imp), _md(imp))


def _segments(run: store.Run, names: dict) -> dict:
    profiles = run.profiles()
    segs = pd.DataFrame([{"id": p.segment_id, "persona": names.get(p.segment_id, p.name),
                          "customers": f"{p.size:,}", "share": f"{p.share:.1%}",
                          "purchase rate": f"{p.purchase_rate:.1%}"} for p in profiles])
    cards = []
    for p in profiles:
        top = "; ".join(f"{t['label']} {t['direction']}" for t in p.top_features[:5])
        rules = " OR ".join(r["text"] for r in p.rules[:2])
        if rules:
            rules += f" (reproduces {p.rule_fidelity:.0%} of this segment)"
        cards.append(f'<div class="card"><h3>{html.escape(names.get(p.segment_id, p.name))}</h3>'
                     f'<p>{html.escape(p.description)}</p>'
                     f'<p class="muted">{p.size:,} customers ({p.share:.1%}); {p.purchase_rate:.1%} '
                     f'bought; most distinctive: {html.escape(top)}</p>'
                     + (f'<p class="muted">Rule: {html.escape(str(rules))}</p>' if rules else "") + "</div>")
    return _section("Segments", _table(segs) + f'<div class="cards">{"".join(cards)}</div>', _md(segs))


def _matrix(run: store.Run, names: dict) -> dict:
    cells = playbook.banded_matrix(run.table("matrix"), "low/medium/high")
    cells = cells.assign(segment=cells["segment_id"].map(names))
    cols = ["segment", "band", "action", "customers", "mean_propensity", "expected_buyers"] + \
        [c for c in ("expected_revenue",) if c in cells] + ["holdout_per_group"]
    mtab = cells[cols].rename(columns=lambda c: c.replace("_", " "))
    return _section("Propensity by segment, with the playbook's actions", _table(mtab) + '<p class="muted">Holdout '
                    "per group: customers per group to detect a +10% relative uplift (two-proportion test, alpha "
                    "0.05, power 0.8).</p>", _md(mtab))


def _approach(run: store.Run, target: str) -> dict | None:
    """Clustering vs classification, measured on the same test customers (None when the
    run cannot measure it)."""
    try:
        cmp = playbook.segment_only_scores(run.table("scored"), target)
    except ValueError:
        return None
    ctab = pd.DataFrame([
        {"score": "segment membership (each segment's training purchase rate)",
         "ROC-AUC": cmp["segments"]["roc_auc"], "PR-AUC": cmp["segments"]["pr_auc"]},
        {"score": "propensity model", "ROC-AUC": cmp["classifier"]["roc_auc"], "PR-AUC": cmp["classifier"]["pr_auc"]}])
    text = ("Clustering answers <em>who are our customers?</em> without labels (judged by stability, separation "
            "and readability); classification answers <em>who will buy?</em> from labelled history (judged by "
            "ROC-AUC, PR-AUC, calibration and lift). Measured on the same test customers:")
    return _section("Clustering vs classification", f"<p>{text}</p>" + _table(ctab),
                    text.replace("<em>", "*").replace("</em>", "*") + "\n\n" + _md(ctab))


def _quality(run: store.Run) -> dict:
    q = run.quality()
    miss = pd.DataFrame([{"column": k, "missing": f"{v:.1%}"} for k, v in q.missing_share.items() if v > 0])
    body_html = f"<p>{q.rows:,} rows; {q.duplicate_feature_rows:,} duplicate feature rows.</p>"
    body_md = f"{q.rows:,} rows; {q.duplicate_feature_rows:,} duplicate feature rows.\n\n"
    if len(miss):
        body_html += _table(miss)
        body_md += _md(miss) + "\n\n"
    drifts = reports.monitoring_reports(run.artifacts, run.run_id, "drift")
    if drifts:
        d = json.loads(drifts[0].read_text(encoding="utf-8"))
        dtab = pd.DataFrame(d["features"])[["feature", "psi", "flag", "missing_train", "missing_new"]].head(10)
        line = (f"Latest drift check ({d['source']}, {d['rows']['new']:,} rows, {d['created_at']}): "
                f"{d['summary']['act']} features to act on, {d['summary']['watch']} to watch; score PSI "
                f"{d['score']['psi']:.3f}.")
        body_html += f"<p>{html.escape(line)}</p>" + _table(dtab)
        body_md += line + "\n\n" + _md(dtab)
    else:
        body_html += "<p>No drift check on this run yet (python -m core drift --data FILE).</p>"
        body_md += "No drift check on this run yet."
    return _section("Data quality and drift", body_html, body_md)


def _provenance(man, met: RunMetrics) -> dict:
    prov = pd.DataFrame([{"item": "run id", "value": man.run_id}, {"item": "created", "value": man.created_at},
                         {"item": "data", "value": man.data_path}, {"item": "data hash", "value": man.data_hash},
                         {"item": "seed", "value": str(man.seed)},
                         {"item": "segmentation method", "value": man.segmentation_method
                          + (f" ({met.segmentation.fallback_reason})" if met.segmentation.fallback_reason else "")}]
                        + [{"item": k, "value": v} for k, v in man.versions.items()])
    return _section("Provenance", _table(prov), _md(prov))


def render_html(run: store.Run) -> str:
    """The report as one self-contained HTML page (str)."""
    import jinja2

    return jinja2.Environment(autoescape=True).from_string(_HTML).render(**build(run))


def render_markdown(run: store.Run) -> str:
    """The report as Markdown (tables, no charts), for pasting into documents."""
    r = build(run)
    man = r["man"]
    out = [f"# {r['title']}", "", f"Run `{man.run_id}`, trained {man.created_at} on {man.dataset} "
           f"({man.rows:,} customers). Target: customers who {r['target_label']}.", ""]
    for s in r["sections"]:
        out += [f"## {s['title']}", "", s["md"], ""]
    return "\n".join(out)
