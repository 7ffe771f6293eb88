"""Independent calls in two worker processes: the scheduler the segmentation's fits and
the training's side-by-side propensity fit share (joblib's loky executor, one thread per
worker, longest call first). It knows nothing of the product: callers pass module-level
functions with their own seeds, and any environment their workers need."""
from __future__ import annotations


def run_parallel(fn, batches: list[list]) -> list:
    """``fn`` over each batch of jobs, batches in separate processes (joblib loky) when there
    are several; the results in job order."""
    if len(batches) == 1:
        return fn(batches[0])
    from joblib import Parallel, delayed

    return [r for out in Parallel(n_jobs=len(batches), backend="loky")(delayed(fn)(b) for b in batches) for r in out]


#: Environment of a worker of :class:`Tasks`: one thread of each pool, as joblib's loky
#: backend sets them for two workers on two cores (``cpu_count // n_jobs``; joblib
#: ``_parallel_backends``, ``MAX_NUM_THREADS_VARS``), so two workers never share a core with
#: each other's threads. Callers add what their calls need (the segmentation: numba's
#: portable target, :data:`core.models.segmentation.reducers.WORKER_ENV`).
ONE_THREAD_ENV = {v: "1" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                   "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMBA_NUM_THREADS",
                                   "NUMEXPR_NUM_THREADS")}


class Tasks:
    """Independent calls ``(fn, args)`` (``fn`` a module-level function so a worker process
    can run it; each call carries its own seed or random generator), started at once.

    With ``n_jobs`` of 2 or more and more than one call, two worker processes (loky, the
    executor joblib uses; one thread each: :data:`ONE_THREAD_ENV`) take the calls in
    ``order`` (positions; default: as given; ``env``: more environment for the workers),
    each worker the next call as soon as it is
    free (list scheduling, Graham 1966), while this process goes on: :meth:`result` waits
    for one call only, so work that needs some results can start while the rest run.
    Otherwise each call runs here when its result is first asked for. Either way a call's
    result does not depend on where or when it ran (UMAP checked at several table sizes,
    and by a test). A context manager: leaving it waits for the calls still
    running, or, on an error, stops the workers.
    """

    def __init__(self, calls: list[tuple], n_jobs: int, order: list[int] | None = None, env: dict | None = None):
        self.calls = list(calls)
        self._results: dict[int, object] = {}
        self._futures = None
        self._pool = None
        if n_jobs >= 2 and len(self.calls) >= 2:
            from joblib.externals.loky import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(max_workers=2, env={**ONE_THREAD_ENV, **(env or {})})
            self._futures = {}
            for i in (range(len(self.calls)) if order is None else order):
                fn, args = self.calls[i]
                self._futures[i] = self._pool.submit(fn, *args)

    @property
    def parallel(self) -> bool:
        """Whether the calls run in worker processes."""
        return self._pool is not None

    def idle(self) -> bool:
        """Whether no call is queued or running (always True without workers)."""
        return self._futures is None or all(f.done() for f in self._futures.values())

    def result(self, i: int):
        """The result of call ``i`` (waits for it; a worker's error is raised here)."""
        if self._futures is not None:
            return self._futures[i].result()
        if i not in self._results:
            fn, args = self.calls[i]
            self._results[i] = fn(*args)
        return self._results[i]

    def run_batches(self, fn, batches: list[list]) -> list:
        """``fn`` over each batch, in the two workers when they run (call this once every
        call has finished: a batch waits behind the calls still queued), else here; the
        results in job order, as :func:`run_parallel` returns them."""
        if self._pool is None or len(batches) == 1:
            return [r for b in batches for r in fn(b)]
        futures = [self._pool.submit(fn, b) for b in batches]
        return [r for f in futures for r in f.result()]

    def __enter__(self) -> "Tasks":
        return self

    def __exit__(self, kind, value, tb) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=kind is None, kill_workers=kind is not None)


def lpt_order(costs: list[int]) -> list[int]:
    """Positions by cost, the longest first (ties by position): the order in which
    :class:`Tasks` should start calls of these costs to finish them soonest on two workers
    (Graham's LPT rule, within 4/3 of the best; Graham 1969, *Bounds on multiprocessing
    timing anomalies*)."""
    return sorted(range(len(costs)), key=lambda i: (-costs[i], i))


def run_tasks(calls: list[tuple], costs: list[int], n_jobs: int, env: dict | None = None) -> list:
    """The results of independent ``calls`` (``(fn, args)``) in call order, run by
    :class:`Tasks` (two worker processes with ``n_jobs`` >= 2), started longest first by
    their ``costs`` (:func:`lpt_order`; any common unit:
    :func:`core.models.segmentation.reducers.job_cost` is UMAP's); ``env`` as :class:`Tasks`."""
    with Tasks(calls, n_jobs, lpt_order(costs), env) as tasks:
        return [tasks.result(i) for i in range(len(calls))]
