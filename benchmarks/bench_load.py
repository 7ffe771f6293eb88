"""Many sessions on one run while a training job runs: page times and memory.

Starts a training job in the runs folder (``core.jobs``, as the Admin page does: a process
of its own, with its two workers), then runs ``--sessions`` app sessions at once, each in a
thread of this process (``streamlit.testing.v1.AppTest``, which runs the page scripts as the
server does: in threads of one process sharing Streamlit's caches). Each session opens
every page ``--visits`` times in its own seeded order, pausing a random 0 to
``2 x --think`` seconds between clicks as a person reading would. Every page run is timed
(from the click until its script finished); a run that raises, or shows an exception, counts
as a failure. Memory: the peak resident set of this process (the sessions, as the server's
would be) and of the job's process tree, sampled every 0.5 s.

Usage::

    python benchmarks/bench_load.py --artifacts DIR [--sessions 20] [--visits 2] [--think 3]
                                    [--data TABLE] [--no-job]

``DIR`` must hold a current run (the default 240K run: ``python -m core --artifacts DIR
train``); the job retrains on ``--data`` (default: the generated default table) and is
cancelled if it has not finished when the sessions are done. Prints, per page: first-load
and later-visit times (median, 95th percentile, max), failures; then the memory peaks and
what the job did meanwhile.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]
os.environ.setdefault("NUMBA_CPU_NAME", "generic")

PAGES = ["overview", "segments", "projection", "propensity", "matrix", "cohort", "approach", "score", "admin"]


def _session(n: int, visits: int, think: float, results: list, errors: list) -> None:
    from streamlit.testing.v1 import AppTest

    rng = random.Random(n)
    t0 = time.monotonic()
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=300).run()
    results.append((n, "app start", 0, time.monotonic() - t0))
    seen = set()
    for visit in range(visits):
        order = PAGES[:]
        rng.shuffle(order)
        for page in order:
            time.sleep(rng.uniform(0, 2 * think))
            t0 = time.monotonic()
            try:
                at.switch_page(f"pages/{page}.py").run()
                bad = [str(e.value)[:120] for e in at.exception]
            except Exception as exc:  # a timeout or a crash of the page run: the page did not answer
                bad = [f"{type(exc).__name__}: {exc}"[:160]]
            seconds = time.monotonic() - t0
            results.append((n, page, 0 if page not in seen else 1, seconds))
            seen.add(page)
            if bad:
                errors.append((n, page, bad[0]))


def _rss_tree(pid: int) -> float:
    """Resident memory (bytes) of a process and its children."""
    import psutil

    try:
        p = psutil.Process(pid)
        procs = [p] + p.children(recursive=True)
    except psutil.Error:
        return 0.0
    total = 0.0
    for q in procs:
        try:
            total += q.memory_info().rss
        except psutil.Error:
            pass
    return total


def main() -> int:
    import psutil

    from core import jobs, registry
    from core.config import load_settings

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--artifacts", required=True, help="runs folder with a current run (the default 240K run)")
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--visits", type=int, default=2, help="visits per page and session (the first loads caches)")
    ap.add_argument("--think", type=float, default=3.0, help="mean pause between a session's clicks (seconds)")
    ap.add_argument("--data", default=None, help="the table the job retrains on (default: the generated table)")
    ap.add_argument("--no-job", action="store_true", help="no training job beside the sessions")
    args = ap.parse_args()
    art = Path(args.artifacts).resolve()
    run_id = registry.current_run_id(art)
    if run_id is None:
        print(f"error: no current run in {art}", file=sys.stderr)
        return 2
    os.environ["SHOPSPHERE_ARTIFACTS"] = str(art)
    os.chdir(REPO)
    settings = load_settings(REPO / "configs" / "default.toml", artifacts_dir=art)
    rows = registry.load_run(art, run_id).manifest().rows
    job = None
    if not args.no_job:
        data = str(Path(args.data).resolve()) if args.data else None
        job = jobs.start(art, "train", {"data": data}, "load benchmark retrain", settings, "bench_load.py")
        print(f"training job {job.job_id} started beside the sessions")
    peaks = {"sessions": 0.0, "job": 0.0, "machine_used": 0.0}
    stop = threading.Event()
    me = os.getpid()

    def sample():
        while not stop.is_set():
            peaks["sessions"] = max(peaks["sessions"], _rss_tree(me))
            if job is not None:
                j = jobs.read(art, job.job_id)
                if j.pid:
                    peaks["job"] = max(peaks["job"], _rss_tree(j.pid))
            vm = psutil.virtual_memory()
            peaks["machine_used"] = max(peaks["machine_used"], vm.total - vm.available)
            stop.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    results, errors = [], []
    t0 = time.monotonic()
    threads = [threading.Thread(target=_session, args=(n, args.visits, args.think, results, errors))
               for n in range(args.sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    stop.set()
    sampler.join()
    job_state = None
    if job is not None:
        job_state = jobs.read(art, job.job_id)
        if job_state.active:
            jobs.cancel(art, job.job_id)
    print(f"{args.sessions} sessions x {len(PAGES)} pages x {args.visits} visits on run {run_id} ({rows:,} customers), "
          f"think time 0-{2 * args.think:.0f} s, in {wall:.0f} s"
          + (f", beside training job {job.job_id}" if job else ""))
    print(f"{'page':<12} {'runs':>5} {'first median s':>15} {'first max s':>12} {'later median s':>15} "
          f"{'later p95 s':>12} {'later max s':>12} {'failures':>9}")
    for page in ["app start"] + PAGES:
        first = [s for _, p, later, s in results if p == page and not later]
        again = sorted(s for _, p, later, s in results if p == page and later)
        fails = sum(1 for _, p, _ in errors if p == page)
        p95 = again[min(len(again) - 1, int(round(0.95 * (len(again) - 1))))] if again else float("nan")
        print(f"{page:<12} {len(first) + len(again):>5} {statistics.median(first):>15.2f} {max(first):>12.2f} "
              + (f"{statistics.median(again):>15.2f} {p95:>12.2f} {max(again):>12.2f}" if again else f"{'-':>15} "
                 f"{'-':>12} {'-':>12}") + f" {fails:>9}")
    later = [s for _, _, l, s in results if l]
    print(f"every later visit: median {statistics.median(later):.2f} s, max {max(later):.2f} s, "
          f"{sum(s > 3 for s in later)} of {len(later)} over 3 s; failures: {len(errors)}")
    for n, page, what in errors[:10]:
        print(f"  session {n}, {page}: {what}")
    print(f"peak memory: sessions' process {peaks['sessions'] / 1e9:.2f} GB, training job's processes "
          f"{peaks['job'] / 1e9:.2f} GB, together {(peaks['sessions'] + peaks['job']) / 1e9:.2f} GB; "
          f"the machine's used memory peaked at {peaks['machine_used'] / 1e9:.2f} GB")
    if job_state is not None:
        print(f"training job: {job_state.status} ({job_line(job_state)})")
    return 0 if not errors else 1


def job_line(job) -> str:
    """What the job was doing when the sessions ended."""
    return job.outcome or job.error or f"{job.fraction:.0%}, {job.step}"


if __name__ == "__main__":
    sys.exit(main())
