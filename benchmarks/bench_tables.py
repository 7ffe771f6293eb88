"""Tables as people send them: a spec drafted from the data, training without a hand-written
spec, exports that cannot attack the reader, and the small-table training time.

Run: ``python -m benchmarks.bench_tables [--dir DIR] [--rows 12000]``. Writes the record ``tables``. Every step
is the command a user types (``python -m core ...`` in a subprocess, timed from start to
exit), on four tables:

- ``marketing``: ``../shared/data/marketing_campaign.csv`` trained twice, with the spec
  drafted from the data (``train --data F --target Response``) and with the hand-written
  ``configs/marketing_campaign.toml``; the two test ROC-AUCs should be within 0.01;
- ``crm_export.csv``: the generated ShopSphere table (seed 42, ``--rows``) as a CRM export
  would write it: no id column, ``;``-separated, Windows-1252, headers in words ("Région",
  "Total spend 12m"), money as ``$1,234.50``, flags and the target as Yes/No;
- ``customers.xlsx``: the same customers as an Excel workbook (sheet "Customers", then a
  "Notes" sheet): a "Customer ID" column in which four ids are spreadsheet formulas
  (``=HYPERLINK(...)``, ``+1-555-0100``, ``@SUM(A1)``, ``-2+3``), Windows-1252 text
  ("Düsseldorf", "Café & Crème"), the target as TRUE/FALSE;
- ``shopsphere.parquet``: the generated table itself, the built-in spec: the small-table time.

For each drafted table it prints the draft's summary lines, the training time and test
figures, and then scores the table (``score --data F --out scored.csv``), builds the
cohort export of every customer (:func:`core.activation.cohorts.cohort_export`, served by the Cohort
page through :func:`core.activation.exports.csv_bytes`) and reads back every CSV the product wrote
(scored, cohort, the run's ``importance.csv``): the count of cells that a spreadsheet would
run as a formula must be 0, and the formula ids must come back with their leading ``'``.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import run_figures as figures_of_run
from benchmarks.records import Record, command_line
from core.inputs.synthetic.shopsphere import generate

ROOT = Path(__file__).resolve().parents[1]

from core.activation import cohorts
from core.activation.exports import csv_bytes, runs_as_formula
from core.runs import store

MARKETING = ROOT.parent / "shared" / "data" / "marketing_campaign.csv"
ATTACKS = ['=HYPERLINK("http://evil.example/x","click")', "+1-555-0100", "@SUM(A1)", "-2+3"]
REGIONS = {"north": "Düsseldorf", "south": "Málaga", "east": "Besançon", "west": "Reykjavík", "central": "Zürich"}
HEADERS = {
    "age_band": "Age group", "region": "Région", "acquisition_channel": "Sign-up channel", "device_type": "Device",
    "income_band": "Income", "sessions_30d": "Sessions 30d", "avg_session_duration": "Avg session (sec)",
    "pages_per_session": "Pages per session", "email_opens_90d": "Email opens 90d",
    "email_clicks_90d": "Email clicks 90d", "days_since_last_visit": "Days since last visit",
    "cart_adds_30d": "Cart adds 30d", "wishlist_adds_90d": "Wishlist adds 90d", "push_opt_in": "Push opt-in",
    "orders_12m": "Orders 12m", "orders_90d": "Orders 90d", "total_spend_12m": "Total spend 12m",
    "avg_order_value": "Average order value", "days_since_last_order": "Days since last order",
    "discount_usage_rate": "Discount usage rate", "distinct_categories_12m": "Categories bought 12m",
    "avg_items_per_order": "Items per order", "tickets_12m": "Support tickets 12m", "refund_rate": "Refund rate",
    "csat_score": "CSAT", "purchased_next_30d": "Purchased next 30 days",
}


def core_cmd(*args: str) -> tuple[float, str]:
    """Run ``python -m core ARGS``; (wall seconds, stdout and then stderr, where the
    commands say what they did). Exits with its stderr on failure."""
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "core", *args], capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        sys.exit(f"python -m core {' '.join(args)} failed: {out.stderr.strip().splitlines()[-1:]}")
    return time.perf_counter() - t0, out.stdout + out.stderr


def money(v: float) -> str:
    """``v`` as a CRM export writes money: ``$1,234.50``; blank when missing."""
    return "" if pd.isna(v) else f"${v:,.2f}"


def make_tables(folder: Path, rows: int) -> dict[str, Path]:
    """Write the generated table and its two export-like copies into ``folder``."""
    df = generate(rows, seed=42)
    base = folder / "shopsphere.parquet"
    df.drop(columns=["_persona", "_true_propensity"]).to_parquet(base, index=False)
    crm = df.drop(columns=["customer_id", "_persona", "_true_propensity"]).copy()
    crm["region"] = crm["region"].map(REGIONS).fillna(crm["region"])
    crm["push_opt_in"] = crm["push_opt_in"].map({1: "Yes", 0: "No"})
    crm["purchased_next_30d"] = crm["purchased_next_30d"].map({1: "Yes", 0: "No"})
    for c in ("total_spend_12m", "avg_order_value"):
        crm[c] = crm[c].map(money)
    crm = crm.rename(columns=HEADERS)
    csv = folder / "crm_export.csv"
    crm.to_csv(csv, sep=";", index=False, encoding="cp1252")
    book = df.drop(columns=["_persona", "_true_propensity"]).copy()
    book.loc[:len(ATTACKS) - 1, "customer_id"] = ATTACKS
    book["region"] = book["region"].map(REGIONS).fillna(book["region"])
    book["favourite_shop"] = np.where(np.arange(len(book)) % 3 == 0, "Café & Crème", "Bücher-Stube")
    book["purchased_next_30d"] = book["purchased_next_30d"].astype(bool)
    book = book.rename(columns={"customer_id": "Customer ID", **HEADERS})
    xlsx = folder / "customers.xlsx"
    with pd.ExcelWriter(xlsx, engine="openpyxl") as w:
        book.to_excel(w, sheet_name="Customers", index=False)
        pd.DataFrame({"note": ["exported from the CRM"]}).to_excel(w, sheet_name="Notes", index=False)
        for row in w.book["Customers"].iter_rows(min_row=2, max_row=len(ATTACKS) + 1, max_col=1):
            row[0].data_type = "s"  # text, as a CRM writes an id, not a formula Excel would evaluate
    return {"base": base, "csv": csv, "xlsx": xlsx}


def run_figures(artifacts: Path, stdout: str) -> dict:
    """The test figures of the run that ``train`` printed (``run ID: ...``)."""
    run_id = re.search(r"^run (\S+):", stdout, re.M).group(1)
    run = store.load_run(artifacts, run_id)
    m = run.metrics()
    return {"run": run, "roc_auc": m.xgboost.roc_auc, "pr_auc": m.xgboost.pr_auc,
            "segments": len(run.profiles()), "timings": run.manifest().timings_s}


def formula_cells(df: pd.DataFrame) -> int:
    """Cells (and column names) that a spreadsheet would run as a formula."""
    cells = [v for c in df.columns if df[c].dtype == object or pd.api.types.is_string_dtype(df[c])
             for v in df[c].dropna()] + list(df.columns)
    return sum(runs_as_formula(v) for v in cells)


def check_exports(name: str, data: Path, artifacts: Path, run: store.Run, folder: Path) -> dict:
    """Score the table, export the cohort, read every CSV back and count formula cells."""
    scored_csv = folder / f"scored_{name}.csv"
    secs, _ = core_cmd("--artifacts", str(artifacts), "score", "--data", str(data), "--out", str(scored_csv))
    scored = run.table("scored")
    cohort = folder / f"cohort_{name}.csv"
    cohort.write_bytes(csv_bytes(cohorts.cohort_export(scored, np.ones(len(scored), bool))))
    files = {"scored": scored_csv, "cohort": cohort, "importance": run.path / "importance.csv"}
    read = {k: pd.read_csv(p, dtype=str, keep_default_na=False) for k, p in files.items()}
    counts = ", ".join(f"{k} {formula_cells(v)}" for k, v in read.items())
    ids = read["scored"][read["scored"].columns[0]]
    kept = [a for a in ATTACKS if ("'" + a) in set(ids)]
    return {"score (s)": f"{secs:.1f}", "formula cells read back": counts,
            "formula ids kept as text": f"{len(kept)} of {len(ATTACKS)}" if name == "xlsx" else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, default=None, help="working folder (default: a temporary one)")
    ap.add_argument("--rows", type=int, default=12_000)
    args = ap.parse_args()
    folder = args.dir or Path(tempfile.mkdtemp(prefix="bench_tables_"))
    folder.mkdir(parents=True, exist_ok=True)
    paths = make_tables(folder, args.rows)
    target = "Purchased next 30 days"

    record = Record("tables", "Tables as people send them", command_line())
    figs, rows = {}, []
    for how, extra in (("drafted", ["--target", "Response"]),
                       ("hand-written", ["--spec", str(ROOT / "configs" / "marketing_campaign.toml")])):
        art = folder / f"art_marketing_{how}"
        secs, out = core_cmd("--artifacts", str(art), "train", "--data", str(MARKETING), *extra)
        figs[how] = f = run_figures(art, out)
        rows.append({"spec": how, "test ROC-AUC": f"{f['roc_auc']:.3f}", "PR-AUC": f"{f['pr_auc']:.3f}",
                     "segments": f["segments"], "train (s)": f"{secs:.1f}"})
    record.table("marketing_campaign.csv: a spec drafted from the data against the hand-written one", rows,
                 f"ROC-AUC drafted - hand-written: {figs['drafted']['roc_auc'] - figs['hand-written']['roc_auc']:+.3f} "
                 "(aim: within 0.01).")
    rows, drafts = [], []
    for name in ("csv", "xlsx"):
        data = paths[name]
        spec_out = folder / f"{name}.toml"
        _, draft = core_cmd("spec", "draft", str(data), "--target", target, "--out", str(spec_out))
        drafts += [{"table": data.name, "the draft says": line.strip()} for line in draft.strip().splitlines()[1:]]
        art = folder / f"art_{name}"
        secs, out = core_cmd("--artifacts", str(art), "train", "--data", str(data), "--target", target)
        f = run_figures(art, out)
        notes = [line.removeprefix("note:").strip() for line in out.splitlines() if line.startswith("note:")]
        rows.append({"table": data.name, "train (s)": f"{secs:.1f}", "test ROC-AUC": f"{f['roc_auc']:.3f}",
                     "PR-AUC": f"{f['pr_auc']:.3f}", "segments": f["segments"], "notes": "; ".join(notes),
                     **check_exports(name, data, art, f["run"], folder)})
    record.table("Export-like tables: trained without a spec (drafted), scored, exported", rows,
                 "crm_export.csv: no id column, `;`-separated, Windows-1252, headers in words, money as $1,234.50, "
                 "Yes/No flags. customers.xlsx: four ids are spreadsheet formulas, the target TRUE/FALSE, a second "
                 "sheet. Formula cells read back must be 0.")
    record.table("What the drafted specs said", drafts)
    art = folder / "art_base"
    secs, out = core_cmd("--artifacts", str(art), "train", "--data", str(paths["base"]))
    f = run_figures(art, out)
    t = f["timings"]
    record.table(f"The generated table of {args.rows:,} customers with the built-in spec (aim: under 45 s)", [
        {"train (s)": f"{secs:.1f}", "segmentation (s)": f"{t['segmentation']:.1f}",
         "propensity (s)": f"{t['propensity']:.1f}",
         "side by side (s)": f"{t['segmentation_and_propensity']:.1f}" if "segmentation_and_propensity" in t else None,
         "test ROC-AUC": f"{f['roc_auc']:.3f}", "PR-AUC": f"{f['pr_auc']:.3f}"}])
    figures_of_run.add_run(record, figs["drafted"]["run"], "marketing_campaign.csv, drafted spec")
    record.write()


if __name__ == "__main__":
    main()
