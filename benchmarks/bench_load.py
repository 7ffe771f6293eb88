"""Many sessions on one run while a training job runs: page times, failures and memory.

Starts the app (``streamlit run app.py`` on a free localhost port, against ``--artifacts``),
starts a training job in that runs folder (``core.ops.jobs``, as the Admin page does: a process
of its own, with its two workers), then opens ``--sessions`` browser sessions at once. Each
session is a client of Streamlit's own websocket protocol (``/_stcore/stream``, the
messages of ``streamlit.proto``: what the browser sends and receives), so the server does
exactly the work of real browser sessions (it runs every page script, sends every element),
while this process stays light: no browser draws anything here, as none would on the
server. Each session opens every page in its own seeded order, pausing a random 0 to ``2 x
--think`` seconds between clicks as a person reading would, and reruns the sidebar's job
fragment every 2 s as a browser does (``auto_rerun``). A page's time runs from the click
(the ``rerun_script`` message) until the server says the script finished; a page that
shows an exception, or does not finish in 60 s, is a failure. The sessions keep going until
the training job has ended (at least ``--visits`` rounds of every page, at most
``--max-seconds``). Memory: the peak resident set of the server process and of the job's
process tree, sampled every 0.5 s.

Usage::

    python -m benchmarks.bench_load --artifacts DIR [--sessions 20] [--visits 2] [--think 3]
                                    [--data TABLE] [--no-job] [--max-seconds 900]

``DIR`` must hold a current run (the default 240K run: ``python -m core --artifacts DIR
train``); the job retrains on ``--data`` (default: the generated default table). The
server runs with XSRF protection off (``--server.enableXsrfProtection false``): the
clients here do not fetch its cookie first. Prints, per page: first-load and later-visit
times (median, 95th percentile, max), failures; the memory peaks; what the job did.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psutil

from benchmarks.records import Record, command_line
from core.actions import jobs
from core.runs import store
from core.settings import load_settings
from tests.app import browser

REPO = Path(__file__).resolve().parents[1]

#: Page URL paths of ``app.py`` ("" is This week).
PAGES = ["", "segments", "matrix", "cohort", "score", "overview", "propensity", "projection", "approach", "admin"]
PAGE_TIMEOUT = 60.0


class Session:
    """One browser session over Streamlit's websocket protocol."""

    def __init__(self, url: str, n: int, results: list, errors: list):
        self.url, self.n, self.results, self.errors = url, n, results, errors
        self.page = ""
        self.fragment: tuple[float, str] | None = None
        self.finished = asyncio.Event()
        self.failed: str | None = None
        self.ws = None

    async def _send(self, page: str, fragment_id: str = "") -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg

        m = BackMsg()
        m.rerun_script.query_string = ""
        m.rerun_script.page_name = page
        if fragment_id:
            m.rerun_script.fragment_id = fragment_id
            m.rerun_script.is_auto_rerun = True
        await self.ws.send(m.SerializeToString())

    async def _reader(self) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        async for raw in self.ws:
            f = ForwardMsg()
            f.ParseFromString(raw)
            kind = f.WhichOneof("type")
            if kind == "auto_rerun":
                self.fragment = (f.auto_rerun.interval, f.auto_rerun.fragment_id)
            elif kind == "delta" and f.delta.WhichOneof("type") == "new_element" \
                    and f.delta.new_element.WhichOneof("type") == "exception":
                self.failed = f.delta.new_element.exception.message[:160]
            elif kind == "script_finished" and f.script_finished in (ForwardMsg.FINISHED_SUCCESSFULLY,
                                                                     ForwardMsg.FINISHED_WITH_COMPILE_ERROR):
                self.finished.set()

    async def _fragments(self) -> None:
        """The sidebar fragment's reruns, every ``interval`` seconds, as the browser sends them
        once a page has finished (not while one is loading)."""
        while True:
            await asyncio.sleep(self.fragment[0] if self.fragment else 2.0)
            if self.fragment and self.finished.is_set():
                await self._send(self.page, self.fragment[1])

    async def open(self, page: str, label: str, later: bool) -> None:
        self.page, self.failed = page, None
        self.finished.clear()
        t0 = time.monotonic()
        await self._send(page)
        try:
            await asyncio.wait_for(self.finished.wait(), PAGE_TIMEOUT)
        except asyncio.TimeoutError:
            self.failed = f"no answer in {PAGE_TIMEOUT:.0f} s"
        self.results.append((self.n, label, later, time.monotonic() - t0))
        if self.failed:
            self.errors.append((self.n, label, self.failed))

    async def run(self, visits: int, think: float, until) -> None:
        import websockets

        rng = random.Random(self.n)
        async with websockets.connect(f"{self.url.replace('http', 'ws')}/_stcore/stream", subprotocols=["streamlit"],
                                      max_size=2 ** 28, ping_interval=None) as ws:
            self.ws = ws
            tasks = [asyncio.create_task(self._reader()), asyncio.create_task(self._fragments())]
            await self.open("", "app start", False)
            seen, rounds = set(), 0
            while rounds < visits or not until():
                order = PAGES[:]
                rng.shuffle(order)
                for page in order:
                    await asyncio.sleep(rng.uniform(0, 2 * think))
                    await self.open(page, page or "week", page in seen)
                    seen.add(page)
                rounds += 1
            for t in tasks:
                t.cancel()


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
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--artifacts", required=True, help="runs folder with a current run (the default 240K run)")
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--visits", type=int, default=2, help="rounds of every page per session, at least")
    ap.add_argument("--think", type=float, default=3.0, help="mean pause between a session's clicks (seconds)")
    ap.add_argument("--data", default=None, help="the table the job retrains on (default: the generated table)")
    ap.add_argument("--no-job", action="store_true", help="no training job beside the sessions")
    ap.add_argument("--max-seconds", type=float, default=900.0)
    args = ap.parse_args()
    art = Path(args.artifacts).resolve()
    run_id = store.current_run_id(art)
    if run_id is None:
        print(f"error: no current run in {art}", file=sys.stderr)
        return 2
    rows = store.load_run(art, run_id).manifest().rows
    log = Path("/tmp") / f"bench_load_streamlit_{os.getpid()}.log"
    with browser.app_server(art, log, timeout=120, args=["--server.enableXsrfProtection", "false"]) as url:
        urllib.request.urlopen(f"{url}/_stcore/health", timeout=5)
        server = next(p for p in psutil.process_iter(["pid", "cmdline"])
                      if p.info["cmdline"] and "streamlit" in " ".join(p.info["cmdline"]) and url.rsplit(":", 1)[1]
                      in " ".join(p.info["cmdline"]))
        job = None
        if not args.no_job:
            settings = load_settings(REPO / "configs" / "default.toml", artifacts_dir=art)
            data = str(Path(args.data).resolve()) if args.data else None
            job = jobs.start_training(settings, data, None, "load benchmark retrain", "bench_load")
            print(f"training job {job.job_id} started beside the sessions")
        peaks = {"server": 0.0, "job": 0.0, "machine_used": 0.0}
        stop = threading.Event()
        t_start = time.monotonic()

        def sample():
            while not stop.is_set():
                peaks["server"] = max(peaks["server"], _rss_tree(server.pid))
                if job is not None:
                    j = jobs.read_job(settings, job.job_id)
                    if j.pid:
                        peaks["job"] = max(peaks["job"], _rss_tree(j.pid))
                vm = psutil.virtual_memory()
                peaks["machine_used"] = max(peaks["machine_used"], vm.total - vm.available)
                stop.wait(0.5)

        def until() -> bool:
            over = time.monotonic() - t_start > args.max_seconds
            return over or job is None or not jobs.read_job(settings, job.job_id).active

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        results, errors = [], []

        async def all_sessions():
            await asyncio.gather(*(Session(url, n, results, errors).run(args.visits, args.think, until)
                                   for n in range(args.sessions)))

        try:
            asyncio.run(all_sessions())
        finally:  # the job never outlives the benchmark
            wall = time.monotonic() - t_start
            stop.set()
            sampler.join()
            job_state = jobs.read_job(settings, job.job_id) if job is not None else None
            if job_state is not None and job_state.active:
                jobs.cancel_job(settings, job.job_id)
    record = Record("app-load", "Many people on the app while it retrains", command_line())
    record.note(f"{args.sessions} sessions on run {run_id} ({rows:,} customers), every page at least {args.visits} times, "
                f"think time 0-{2 * args.think:.0f} s, for {wall:.0f} s" + (", beside a training job" if job else "")
                + ". Each session speaks Streamlit's own websocket protocol, so the server does the work of real "
                "browsers.")
    table = []
    for label in ["app start"] + [p or "week" for p in PAGES]:
        first = [s for _, p, later, s in results if p == label and not later]
        again = sorted(s for _, p, later, s in results if p == label and later)
        p95 = again[min(len(again) - 1, int(round(0.95 * (len(again) - 1))))] if again else None
        table.append({"page": label, "loads": len(first) + len(again),
                      "first, median (s)": f"{statistics.median(first):.2f}" if first else None,
                      "first, max (s)": f"{max(first):.2f}" if first else None,
                      "later, median (s)": f"{statistics.median(again):.2f}" if again else None,
                      "later, p95 (s)": f"{p95:.2f}" if again else None,
                      "later, max (s)": f"{max(again):.2f}" if again else None,
                      "failures": sum(1 for _, p, _ in errors if p == label)})
    later = [s for _, _, lt, s in results if lt] or [float("nan")]
    record.table("Page loads", table,
                 f"Every later visit: {len(later)} page loads, median {statistics.median(later):.2f} s, max "
                 f"{max(later):.2f} s, {sum(s > 3 for s in later)} over 3 s; failures: {len(errors)}. Peak memory: the "
                 f"server {peaks['server'] / 1e9:.2f} GB, the training job {peaks['job'] / 1e9:.2f} GB, together "
                 f"{(peaks['server'] + peaks['job']) / 1e9:.2f} GB." + (
                     f" The training job: {job_state.status}." if job_state is not None else ""))
    record.figure("pages", statistics.median(later), f"{args.sessions} people on the app during a retrain: page loads "
                                                     f"median {statistics.median(later):.2f} s, {len(errors)} failures")
    for n, page, what in errors[:10]:
        print(f"  session {n}, {page}: {what}")
    record.write()
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
