"""Reducers of the segmentation slot: UMAP, or none.

A reducer maps the scaled inputs ``Z`` (shape (m, d)) to the space the clusterer works in.
Its interface is two methods:

- ``job(Z, seed)``: the arguments of one fit, a plain tuple a worker process can run
  (:class:`Tasks`);
- ``fit_transform(Z, seed)``: the embedding, shape (m, k).

:class:`UMAPReducer` is UMAP (McInnes, Healy & Melville 2018, arXiv:1802.03426);
:class:`IdentityReducer` passes ``Z`` through (KMeans and the Gaussian mixture cluster the
scaled inputs themselves). UMAP with a seed runs on one core, so independent fits (the
main embedding, the stability refits, the display projection) run in two worker processes
(:class:`Tasks`); the result does not depend on where they run, since every fit has its
own seed.
"""
from __future__ import annotations

import logging
import os

import pkgutil
import warnings
from dataclasses import dataclass

import numpy as np

from core.models.segmentation.neighbours import kneighbors

#: Epochs of every clustering UMAP fit: umap-learn's default above 10,000 rows, fixed so a
#: refit on a subsample is trained the same way as the main fit.
CLUSTER_EPOCHS = 200


#: Up to this many rows (the default fitted sample, 50,000, included) a UMAP fit gets its
#: exact nearest neighbours by brute force (:func:`core.models.segmentation.neighbours.kneighbors`:
#: the same on every CPU) instead of pynndescent's approximate search, whose numba code cannot
#: be cached ("uses dynamic globals") and so is compiled again in every new process; at the
#: default sample a whole 5-D fit with the exact search is no slower than with pynndescent
#: (measured by ``python -m benchmarks.bench_design``). UMAP itself
#: uses exact neighbours below 4,096 rows (umap-learn's ``nearest_neighbors``); the
#: ``precomputed_knn`` argument is documented in umap-learn's API reference.
EXACT_KNN_ROWS = 50_001


_JIT_CACHE_ON = False


#: The CPU numba compiles umap-learn's code for: LLVM's portable x86-64 target (numba's
#: ``NUMBA_CPU_NAME=generic``, which also empties ``NUMBA_CPU_FEATURES``; numba's docs,
#: "Environment variables", recommend it for code cached on one machine and run on
#: another). Left to itself numba compiles for the host CPU, and UMAP's layout functions
#: are ``fastmath``: LLVM then reorders their arithmetic by the CPU's vector units and cost
#: model, so the same inputs and seed give different embeddings when compiled for different
#: CPU targets (LLVM's ``generic``, ``haswell`` and ``icelake-server`` among them), and so
#: different segments on different machines. The portable code did not make a fit
#: noticeably slower.
PORTABLE_CPU = "generic"


def pin_numba_target() -> None:
    """Make numba compile for :data:`PORTABLE_CPU` in this process, so that a UMAP fit gives
    the same embedding on every x86-64 CPU. Must run before numba compiles anything here
    (importing umap-learn does): numba fixes its code generator's target on the first
    compilation (``numba.core.registry.cpu_target``). :func:`umap_many` calls it first; the
    worker processes of :class:`Tasks` get ``NUMBA_CPU_NAME`` in their environment.

    Raises
    ------
    RuntimeError
        numba has already compiled code for another CPU in this process (something imported
        umap-learn, pynndescent or shap first): start Python with ``NUMBA_CPU_NAME=generic``.
    """
    from numba.core import config
    from numba.core.registry import cpu_target

    if "_toplevel_target_context" not in vars(cpu_target):  # nothing compiled yet: the target is still open
        config.CPU_NAME, config.CPU_FEATURES = PORTABLE_CPU, ""
    cpu, features = cpu_target.target_context.codegen().magic_tuple()[1:]
    if cpu != PORTABLE_CPU or features:
        raise RuntimeError(f"numba already compiled code for the CPU {cpu!r} in this process, so UMAP's embeddings "
                           f"would differ between machines; start Python with NUMBA_CPU_NAME={PORTABLE_CPU}")


def enable_jit_cache() -> int:
    """Turn on numba's on-disk cache for the compiled functions of umap-learn and
    pynndescent that do not enable it themselves (``Dispatcher.enable_caching``, what
    ``@njit(cache=True)`` calls), so a new process loads their machine code instead of
    compiling it again (compiling takes most of a first UMAP fit in a new process: measured
    by ``python -m benchmarks.bench_design``). numba keeps
    the cache beside each module (``__pycache__``) or in ``NUMBA_CACHE_DIR``; it checks the
    source file's time stamp and the CPU, so a changed library recompiles. A function numba
    cannot cache is compiled as before (numba says so in a ``NumbaWarning``, silenced here).
    Source: numba's documentation, "Cache" (numba.readthedocs.io, user/jit.html#cache).
    Returns how many functions it turned on (0 on later calls in the same process)."""
    global _JIT_CACHE_ON
    if _JIT_CACHE_ON:
        return 0
    import importlib

    from numba.core.caching import NullCache
    from numba.core.errors import NumbaWarning
    from numba.core.registry import CPUDispatcher

    warnings.filterwarnings("ignore", message="Cannot cache compiled function", category=NumbaWarning)
    turned = 0
    for name in ("umap", "pynndescent"):
        pkg = importlib.import_module(name)
        for info in pkgutil.iter_modules(pkg.__path__):
            if info.name in ("plot", "parametric_umap", "aligned_umap"):  # optional extras (plotting, keras)
                continue
            try:
                mod = importlib.import_module(f"{name}.{info.name}")
            except ImportError:
                continue
            for fn in vars(mod).values():
                if isinstance(fn, CPUDispatcher) and isinstance(fn._cache, NullCache):
                    fn.enable_caching()
                    turned += 1
    _JIT_CACHE_ON = True
    return turned


def warm_jit_cache(seed: int = 0) -> None:
    """Compile umap-learn's numba code into its on-disk cache (:func:`enable_jit_cache`) with
    two UMAP fits of 400 random points (5-D and 2-D, 20 epochs), so the first training after
    an install loads machine code instead of compiling it (`make install` calls this: a
    compile paid once, instead of one added to a first training and to every new worker
    process; measured by ``python -m benchmarks.bench_design``). The fits go through
    :func:`umap_many`, the path every training takes, so the same functions and type
    signatures are compiled. pynndescent's search,
    which numba cannot cache, is not warmed (see :data:`EXACT_KNN_ROWS`). The cache goes
    where numba puts it (``__pycache__`` beside umap-learn, or ``NUMBA_CACHE_DIR``)."""
    X = np.random.default_rng(seed).normal(size=(400, 8))
    umap_many([(X, 5, 15, 0.0, 20, seed), (X, 2, 15, 0.1, 20, seed)])


def _exact_knn(X: np.ndarray, k: int) -> tuple:
    """UMAP's ``precomputed_knn`` from exact neighbours: ``(indices, distances, None)``,
    shapes (m, k), each row's own point first (as umap-learn's search returns), ties by
    position (:func:`core.models.segmentation.neighbours.kneighbors`: the same on every CPU)."""

    idx, dist = kneighbors(X, X, k, self_first=True)
    return idx, dist.astype(np.float32), None


def umap_many(jobs: list[tuple]) -> list[np.ndarray]:
    """Run UMAP fits one after the other; each job is ``(X, n_components, n_neighbors,
    min_dist, n_epochs, seed)``. A module-level function so a worker process can run it.
    numba compiles for :data:`PORTABLE_CPU` (:func:`pin_numba_target`) and its cache is on
    (:func:`enable_jit_cache`); OpenBLAS runs :data:`PORTABLE_BLAS`'s kernels (a process
    started without them hands the fits to a worker process that has them,
    :func:`pinned_worker`); fits below :data:`EXACT_KNN_ROWS` rows
    use exact neighbours.

    Each fit runs on one BLAS thread (threadpoolctl): its spectral initialisation
    (``scipy.sparse.linalg.eigsh``, ARPACK on OpenBLAS) sums in another order on two
    threads, and the layout turns that into another embedding (the 50,000-customer sample of
    the default table embedded differently with ``OPENBLAS_NUM_THREADS`` 1 and 2, so
    ``n_jobs = 1``, fitting in the calling process with its threads, gave other segments
    than the one-thread workers of ``n_jobs = 2``). UMAP with
    a seed runs its layout on one thread anyway."""

    if not in_pinned_process():  # OpenBLAS here picked its kernels by this CPU: fit where they are pinned
        return pinned_worker().submit(umap_many, jobs).result()
    from threadpoolctl import threadpool_limits

    pin_numba_target()
    import umap  # heavy import (numba); only when fitting

    enable_jit_cache()
    out = []
    for X, k, nn, md, ep, seed in jobs:
        knn = _exact_knn(X, nn) if len(X) < EXACT_KNN_ROWS else (None, None, None)
        a, b = layout_curve(md)
        with warnings.catch_warnings(record=True) as caught, threadpool_limits(1):
            warnings.simplefilter("always")
            out.append(umap.UMAP(n_components=k, n_neighbors=nn, min_dist=md, n_epochs=ep, random_state=seed,
                                 n_jobs=1, precomputed_knn=knn, a=a, b=b).fit_transform(X))
        _log_caught(caught, len(X))
    return out


def _log_caught(caught: list, rows: int) -> None:
    """umap-learn's warnings of one fit, logged (``core.models.segmentation.reducers``)
    instead of printed on the terminal: that no search index is kept (by design: the
    product never transforms new rows with UMAP), or that the spectral initialisation failed
    and a random one was used (the layout still converges; rare duplicate-heavy inputs)."""
    log = logging.getLogger(__name__)
    for w in caught:
        if "precomputed_knn" not in str(w.message):
            log.info("UMAP on %d rows: %s", rows, " ".join(str(w.message).split()))


def layout_curve(min_dist: float, spread: float = 1.0) -> tuple[float, float]:
    """UMAP's low-dimensional similarity curve ``1 / (1 + a d^(2b))`` for ``min_dist`` and
    ``spread``: umap-learn's own least-squares fit (``umap.umap_.find_ab_params``), rounded
    to 4 significant digits. Unrounded, the fit differs in its last digits between CPUs
    (numpy's ``exp`` and ``power`` have per-CPU SIMD code, so ``a`` and ``b`` come out
    slightly apart with and without AVX-512), and UMAP's layout turns that into another
    embedding. Source: McInnes et al. 2018, arXiv:1802.03426,
    section 4 (the curve and its fit)."""
    from umap.umap_ import find_ab_params

    a, b = find_ab_params(spread, min_dist)
    return float(f"{a:.4g}"), float(f"{b:.4g}")


def job_cost(job: tuple) -> int:
    """Relative cost of a UMAP job (as :func:`umap_many` takes it): rows x epochs, the
    epochs umap-learn picks when the job leaves them to it (500 up to 10,000 rows, 200
    above: ``UMAP.fit``). The layout's epochs take nearly all of a fit's time."""
    rows, epochs = len(job[0]), job[4]
    return rows * (epochs or (500 if rows <= 10_000 else 200))


def portable_blas_core() -> str | None:
    """The OpenBLAS kernel set every UMAP fit runs with (``OPENBLAS_CORETYPE``), the same on
    every x86-64 CPU that can run it: ``Haswell`` (AVX2 and FMA, every x86-64 server CPU since
    2013-2015) or, on an older CPU, ``Nehalem`` (SSE4.2); None off x86-64, where it is left to
    OpenBLAS. Why: UMAP's spectral initialisation (``scipy.sparse.linalg.eigsh``: ARPACK on
    OpenBLAS) sums in the order of the kernels OpenBLAS picks for the CPU it finds (AVX-512
    ``SkylakeX`` on an Intel Xeon, ``Haswell`` on an AMD EPYC), its eigenvectors differ in
    the 12th digit, and the layout turns that into another embedding: the default table's
    bootstrap ARI was 0.81 on one machine and 0.85 on another, with the same segments
    (OpenBLAS's README, "OPENBLAS_CORETYPE"; the kernels by CPU in its ``driver/others/dynamic.c``)."""
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as cpu
    except ImportError:  # numpy 1.x
        from numpy.core._multiarray_umath import __cpu_features__ as cpu
    return "Haswell" if cpu.get("AVX2") and cpu.get("FMA3") else "Nehalem" if cpu.get("SSE42") else None


#: The OpenBLAS kernels of every UMAP fit on this machine (:func:`portable_blas_core`).
PORTABLE_BLAS = portable_blas_core()


#: What a worker process that runs UMAP needs beyond one thread per pool
#: (:data:`core.workers.ONE_THREAD_ENV`): numba's portable target from its import on
#: (:func:`pin_numba_target`) and OpenBLAS's portable kernels from its load on
#: (:data:`PORTABLE_BLAS`, chosen when the library loads, so only a new process can take
#: them), so its embedding is the one every machine computes.
WORKER_ENV = {"NUMBA_CPU_NAME": PORTABLE_CPU, **({"OPENBLAS_CORETYPE": PORTABLE_BLAS} if PORTABLE_BLAS else {})}


_PINNED_WORKER = None


def in_pinned_process() -> bool:
    """Whether this process's OpenBLAS runs :data:`PORTABLE_BLAS`'s kernels (set when it started)."""
    return PORTABLE_BLAS is None or os.environ.get("OPENBLAS_CORETYPE", "").lower() == PORTABLE_BLAS.lower()


def pinned_worker():
    """One worker process (loky) started with :data:`WORKER_ENV` and one thread per pool,
    kept for this process's later UMAP fits (a training with ``n_jobs = 1`` fits its
    embeddings one after another in it) and its propensity fit
    (:func:`core.pipeline.steps.fit_propensity_pinned`)."""
    global _PINNED_WORKER
    if _PINNED_WORKER is None:
        from joblib.externals.loky import ProcessPoolExecutor

        from core.workers import ONE_THREAD_ENV

        _PINNED_WORKER = ProcessPoolExecutor(max_workers=1, env={**ONE_THREAD_ENV, **WORKER_ENV})
    return _PINNED_WORKER


def umap_call(job: tuple) -> tuple:
    """A UMAP job as a call for :class:`Tasks`."""
    return (umap_one, (job,))


def umap_one(job: tuple) -> np.ndarray:
    """The embedding of one UMAP job (:func:`umap_many`)."""
    return umap_many([job])[0]


@dataclass(frozen=True)
class UMAPReducer:
    """UMAP to ``n_components`` dimensions with ``n_neighbors`` and ``min_dist``
    (``min_dist=0`` packs clusters tightly, as the UMAP docs advise for clustering);
    :data:`CLUSTER_EPOCHS` epochs."""

    n_components: int = 5
    n_neighbors: int = 15
    min_dist: float = 0.0

    name = "umap"

    def job(self, Z: np.ndarray, seed: int) -> tuple:
        """Arguments of one fit of ``Z`` (shape (m, d)) for :func:`umap_many`."""
        return (Z, self.n_components, min(self.n_neighbors, len(Z) - 1), self.min_dist, CLUSTER_EPOCHS, seed)

    def fit_transform(self, Z: np.ndarray, seed: int) -> np.ndarray:
        """The embedding of ``Z``, shape (m, ``n_components``)."""
        return umap_many([self.job(Z, seed)])[0]


@dataclass(frozen=True)
class IdentityReducer:
    """No reduction: the clusterer works on the scaled inputs."""

    name = "none"

    def fit_transform(self, Z: np.ndarray, seed: int) -> np.ndarray:
        """``Z`` itself."""
        return Z
