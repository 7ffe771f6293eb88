"""Log-to-features at scale: about 10 million order lines of 1.2 million customers, features
for 4 cutoffs, on one machine.

Run: ``python -m benchmarks.bench_log_scale [--customers 1200000] [--dir DIR]``.
It writes the generated log (:func:`core.inputs.synthetic.shopsphere_log.generate_log`, seed 42) to
``DIR/orders.parquet`` (default a temporary folder; kept and reused when it exists), then
measures, in a fresh process so the generator's memory is not counted: reading the log
(:func:`core.inputs.log.read_log`), cleaning it (:func:`core.inputs.log.events`) and the snapshot table at
4 monthly cutoffs (:func:`core.pipeline.log_table.snapshot_table`: the DuckDB feature SQL, BG/NBD and
Gamma-Gamma per cutoff). Prints the wall time of each step and the peak resident memory of
the measuring process (DuckDB runs in-process, so it is included): ``VmHWM`` of
``/proc/self/status`` on Linux, which starts afresh at ``exec`` (``ru_maxrss`` would carry
the generating parent's peak into the child: proc(5)), ``resource.getrusage`` elsewhere.
Targets: under 60 s and under 4 GB. Writes the record ``log-scale``.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.records import Record, command_line
from core.inputs import log
from core.inputs.synthetic.shopsphere_log import generate_log
from core.pipeline import log_table

ROOT = Path(__file__).resolve().parents[1]

CUTOFFS = ["2025-08-01", "2025-09-01", "2025-10-01", "2025-11-01"]


def peak_memory_gb() -> float:
    """Peak resident memory of this process since its ``exec``, in GB (2**30 bytes)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024 ** 2  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def measure(path: Path) -> dict:
    """Read, clean and build the 4-cutoff snapshot table of the log at ``path``; timings (s),
    rows and peak memory (GB)."""
    spec = log.load_log_spec(ROOT / "configs" / "shopsphere_log.toml")
    spec = log.LogSpec(**{**spec.__dict__, "cutoffs": tuple(CUTOFFS), "start": None, "attributes": None})
    t = {}
    t0 = time.perf_counter()
    raw = log.read_log(path, spec)
    t["read"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    ev, notes = log.events(raw, spec, str(path))
    lines = len(raw)
    del raw
    t["events"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    cuts = log.cutoff_days(spec, int(ev["day"].min()), int(ev["day"].max()))
    table, _, _ = log_table.snapshot_table(ev, spec, cuts)
    t["snapshots"] = time.perf_counter() - t0
    peak_gb = peak_memory_gb()
    return {"lines": lines, "customers": int(ev["customer_id"].nunique()), "snapshot_rows": len(table),
            "features": table.shape[1], "timings_s": {k: round(v, 2) for k, v in t.items()},
            "total_s": round(sum(t.values()), 2), "peak_memory_gb": round(peak_gb, 2), "notes": notes}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=1_200_000)
    ap.add_argument("--dir", default=None, help="folder for the generated log (default: a temporary one)")
    ap.add_argument("--measure", default=None, help=argparse.SUPPRESS)  # the child process
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(Path(args.measure))))
        return
    folder = Path(args.dir or tempfile.mkdtemp(prefix="bench_log_scale_"))
    path = folder / f"orders_{args.customers}.parquet"
    if not path.exists():
        t0 = time.perf_counter()
        folder.mkdir(parents=True, exist_ok=True)
        generate_log(args.customers, seed=42).to_parquet(path, index=False)
        print(f"generated {path} in {time.perf_counter() - t0:.1f} s")
    out = subprocess.run([sys.executable, "-m", "benchmarks.bench_log_scale", "--measure", str(path)],
                         capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        sys.exit(out.stderr)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    record = Record("log-scale", "From a log of 10 million lines to features", command_line())
    record.note(f"The generated order log: {r['lines']:,} lines of {r['customers']:,} customers; {len(CUTOFFS)} cutoffs "
                f"({', '.join(CUTOFFS)}) give {r['snapshot_rows']:,} snapshot rows x {r['features']} columns. Measured "
                "in a fresh process, so the generator's memory is not counted.")
    names = {"read": "read the log", "events": "clean it into events", "snapshots": "features and BTYD at 4 cutoffs"}
    record.table("Wall time and memory", [{"step": names[k], "seconds": f"{v:.1f}"} for k, v in r["timings_s"].items()]
                 + [{"step": "in all (target < 60 s)", "seconds": f"{r['total_s']:.1f}"}],
                 f"Peak memory of the measuring process: {r['peak_memory_gb']:.2f} GB (target < 4 GB).")
    record.figure("seconds", r["total_s"], f"{r['lines']:,} log lines to features in {r['total_s']:.0f} s, "
                                           f"{r['peak_memory_gb']:.1f} GB")
    record.write()


if __name__ == "__main__":
    main()
