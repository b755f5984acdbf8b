"""How the CPU kernel set uses the cores: ``parallel_for``, which runs a kernel's blocks
on a small pool of Python threads, ``gemm``, the matrix product every layer calls, and the
thread count (``set_num_threads``).

Every CPU kernel is a serial ``@kernel`` (``@njit(nogil=True, error_model="numpy",
cache=True)``) loop over a range ``[lo, hi)`` of its outer index (planes, channels, rows).
The numpy error model (x / 0 gives inf or NaN instead of raising) is the one Numba's
parallel kernels used, and lets a diverging run reach the trainer's NaN guard.
``parallel_for`` cuts the range into one block per thread and runs them at once; the
kernels release the GIL, so the blocks run on all cores. Measured on the 2-core
development machine (numbacnn issue 7), this replaced ``@njit(parallel=True)`` kernels
because:

* compile time: Numba's parfor passes took 1-6 s per parallel kernel (a cold start of
  resnet20, which compiles about 20 kernels, took 40-90 s); the same loop as a plain
  ``@njit`` function compiles in 0.1-0.7 s, and loads from the cache faster;
* no threading layer: ``omp`` spin-waits at every barrier without bound (62 img/s against
  1933 for a sleeping pool on the loaded machine), and ``workqueue``, the layer that sleeps,
  aborts the process when two Python threads enter parallel regions at once (the GUI, the
  data loader's workers and the trainer all run kernels on threads of their own). The pool
  here spins for at most SPIN_US between blocks, then sleeps, and a second caller runs its
  blocks on its own thread;
* the GIL is released while a kernel runs, so a GUI stays responsive during a step.

OpenBLAS with 2 threads on skinny products (the weight gradient of a 16-channel conv:
(144 x 131072) @ (131072 x 16)) fell to 0.4 GFLOP/s under load against 8.8 for one
thread. So numpy's OpenBLAS is pinned to one thread and ``gemm`` splits a large product
itself into blocks computed on the same pool (numpy releases the GIL in matmul): nothing
spins for long, and on an idle machine every core works.
"""
from __future__ import annotations

import ctypes
import os
import threading

import numba
import numpy as np

from . import atomic


def kernel(fn=None, *, fastmath=True):
    """The decorator of every CPU kernel (a function called from Python): ``@njit`` with
    the GIL released, the numpy error model and the on-disk cache. ``@kernel`` or
    ``@kernel(fastmath=...)``; functions that only kernels call take :func:`helper`."""
    jit = numba.njit(nogil=True, error_model="numpy", fastmath=fastmath, cache=True)
    return jit if fn is None else jit(fn)


def helper(fn):
    """The decorator of a function that only kernels call: Numba inlines it into each
    caller (``inline="always"``), so it is never compiled on its own. Compiled separately,
    LLVM inlined and re-optimised its code inside every caller anyway, and a cold start
    paid for it twice (conv_direct's forward: the helpers' own compiles were half of its
    7 s)."""
    return numba.njit(inline="always", nogil=True, error_model="numpy", fastmath=True)(fn)


# --- OpenBLAS, pinned to one thread --------------------------------------------------------
_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
            "openblas_set_num_threads64_", "openblas_set_num_threads")
_GETTERS = ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads",
            "openblas_get_num_threads64_", "openblas_get_num_threads")
_blas = None  # (get, set) of numpy's OpenBLAS, or () when not found


def _numpy_openblas():
    """(get, set) ctypes functions of the OpenBLAS numpy uses, or () if there is none."""
    paths = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                p = line.split()[-1] if "/" in line else ""
                if "openblas" in os.path.basename(p).lower() and p not in paths:
                    paths.append(p)
    except OSError:
        return ()
    # numpy's own copy (numpy.libs / scipy_openblas64) first; scipy's is a different library
    paths.sort(key=lambda p: 0 if ("numpy" in p or "openblas64" in p) else 1)
    for p in paths:
        try:
            lib = ctypes.CDLL(p)
        except OSError:
            continue
        get = next((getattr(lib, n) for n in _GETTERS if hasattr(lib, n)), None)
        set_ = next((getattr(lib, n) for n in _SETTERS if hasattr(lib, n)), None)
        if get is not None and set_ is not None:
            get.restype = ctypes.c_int
            get.argtypes = []
            set_.restype = None
            set_.argtypes = [ctypes.c_int]
            return get, set_
    return ()


def blas_single_thread() -> None:
    """Makes numpy's OpenBLAS run each call on the calling thread (cheap when it already does)."""
    global _blas
    if _blas is None:
        _blas = _numpy_openblas()
    if _blas:
        get, set_ = _blas
        if get() != 1:
            set_(1)


# --- threads ---------------------------------------------------------------------------------
MAX_THREADS = numba.config.NUMBA_NUM_THREADS
"""The most threads the kernels use: the cores this process may run on, or
NUMBA_NUM_THREADS when set."""
_threads = MAX_THREADS
_pool = None
_pool_lock = threading.Lock()


def set_num_threads(n: int) -> int:
    """Runs every kernel and product on ``n`` threads (capped at MAX_THREADS); returns
    the count set. numpy's OpenBLAS stays on one thread (see the module docstring)."""
    global _threads
    n = int(n)
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {n}")
    _threads = min(n, MAX_THREADS)
    blas_single_thread()
    return _threads


def get_num_threads() -> int:
    return _threads


SPIN_US = 1000
"""Microseconds a worker spins for its next block, and the caller for the workers' end,
before they sleep. Inside a training step the next parallel kernel mostly comes within
tens of microseconds, but the optimizer, the loss and the autograd bookkeeping leave gaps
of a few hundred: with 200 us the workers were often asleep when it came (py-spy), and
1000 us made mnist_cnn's and LeNet-5's training steps 6-8 % faster (in-process A/B,
alternating, 3 runs of 4; cifar_cnn unchanged). Between steps of a data-bound run, or
after the last one, the workers go to sleep and take no CPU."""
_CELL = 8   # int64 cells per flag: each thread's flags on a cache line of their own


class _Pool:
    """Workers that wait for blocks by spinning on an atomic flag, with the GIL released,
    for SPIN_US after each block, and only then sleep on a condition.

    On the 2-core development machine (a Firecracker VM whose idle virtual CPUs halt at
    once) waking a sleeping thread costs 30-60 us, paid twice per parallel kernel (to start
    a worker, and to wake the caller when it ends). Handing a block to a spinning worker
    costs about 20 us (the worker's dispatch waits for the GIL), so kernels of 100 us and
    up gain from both cores (numbacnn issue 21). Workers run blocks 1..; the caller runs
    block 0 itself.

    The sleep handshake: a worker about to sleep sets ``sleeping`` then reads ``seq``; the
    caller writes ``seq`` then reads ``sleeping`` (publish). With sequentially consistent
    atomics one of them sees the other's write, so no wake-up is lost; ``waiting`` and
    ``done`` do the same for the caller."""

    def __init__(self, most: int):
        self.spins = max(1, int(SPIN_US * atomic.spins_per_us()))
        cells = np.zeros((4, most * _CELL), np.int64)
        self.seq, self.sleeping, self.done, self.waiting = cells
        self.tasks: list = [None] * most
        self.errors: list = [None] * most
        self.wake = [threading.Condition() for _ in range(most)]
        self.finished = [threading.Condition() for _ in range(most)]
        self.started = 0
        self.busy = threading.Lock()            # one caller at a time; others run serially

    def start(self, workers: int):
        """Starts workers until there are ``workers`` of them (``busy`` held)."""
        if workers > len(self.tasks):
            raise ValueError(f"the kernel pool has at most {len(self.tasks)} workers, asked for {workers}")
        for w in range(self.started, workers):
            threading.Thread(target=self._work, args=(w,), name=f"numbacnn-{w + 1}", daemon=True).start()
        self.started = max(self.started, workers)

    def _work(self, w: int):
        c, seen = w * _CELL, 0
        while True:
            if not atomic.wait_while(self.seq, c, seen, self.spins):
                with self.wake[w]:
                    atomic.store(self.sleeping, c, 1)
                    while atomic.load(self.seq, c) == seen:
                        self.wake[w].wait()
                    atomic.store(self.sleeping, c, 0)
            seen = int(atomic.load(self.seq, c))
            fn, args, kwargs = self.tasks[w]
            self.tasks[w] = None
            try:
                fn(*args, **kwargs)
            except BaseException as e:  # noqa: BLE001 - re-raised on the caller's thread
                self.errors[w] = e
            if atomic.publish(self.done, c, seen, self.waiting, c):
                with self.finished[w]:
                    self.finished[w].notify()

    def submit(self, w: int, fn, *args, **kwargs):
        """Worker ``w`` runs ``fn(*args, **kwargs)``; :meth:`join` waits for it."""
        c = w * _CELL
        self.tasks[w] = (fn, args, kwargs)
        if atomic.publish(self.seq, c, int(self.seq[c]) + 1, self.sleeping, c):
            with self.wake[w]:
                self.wake[w].notify()

    def join(self, workers: int):
        """Waits for workers 0..workers-1 to end their blocks; re-raises the first error."""
        for w in range(workers):
            c = w * _CELL
            target = int(self.seq[c])
            if not atomic.wait_while(self.done, c, target - 1, self.spins) and atomic.load(self.done, c) != target:
                with self.finished[w]:
                    atomic.store(self.waiting, c, 1)
                    while atomic.load(self.done, c) != target:
                        self.finished[w].wait()
                    atomic.store(self.waiting, c, 0)
        for w in range(workers):
            e, self.errors[w] = self.errors[w], None
            if e is not None:
                raise e


MOST_WORKERS = max(MAX_THREADS, 64)
"""Workers the pool has flag cells for (every core this process may use; threads start when
first asked for)."""


def _get_pool() -> _Pool:
    """The process's pool, made on first use."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = _Pool(MOST_WORKERS)
        return _pool


def _forget_pool_after_fork():
    # a forked child has the pool object but none of its threads: it makes its own
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool_after_fork)


def _run_blocks(blocks) -> None:
    """Runs ``blocks``, a list of (fn, args, kwargs), the first on the calling thread and
    the rest on the pool's workers, and waits for all of them. While another thread has
    the pool (the studio's GUI thread asking for a preview during a step) they all run
    here, one after another."""
    pool = _get_pool()
    if not pool.busy.acquire(blocking=False):
        for fn, args, kwargs in blocks:
            fn(*args, **kwargs)
        return
    try:
        pool.start(len(blocks) - 1)
        for w, (fn, args, kwargs) in enumerate(blocks[1:]):
            pool.submit(w, fn, *args, **kwargs)
        try:
            fn, args, kwargs = blocks[0]
            fn(*args, **kwargs)
        finally:
            pool.join(len(blocks) - 1)
    finally:
        pool.busy.release()


PARALLEL_MIN = 1 << 17
"""Elements of work below which a kernel runs on the calling thread only. Handing a block
to the spinning pool and waiting for it costs about 20 us on the 2-core development
machine, while one thread runs an element-wise pass over 2**17 float32 (512 KB) in about
25 us. With the earlier sleeping pool (50-150 us a hand-over) this was 2**19; lowering it
to 2**17 with the spinning pool took mnist_cnn's training step from 1.57 to 1.35 ms and
its inference from 0.57 to 0.44 ms (2 threads, alternating settings in one process);
cifar_cnn and LeNet-5 did not move beyond the noise."""


def parallel_for(kernel, n, *args, work=None):
    """Runs ``kernel(*args, lo, hi)`` over the whole range [0, n) of its outer index, cut
    into one block per thread. ``kernel`` must write disjoint outputs for disjoint ranges
    (no reductions across blocks). ``work``, the number of elements the call touches
    (default n), decides whether threads are worth waking (PARALLEL_MIN)."""
    T = min(_threads, n)
    if T <= 1 or (n if work is None else work) < PARALLEL_MIN:
        kernel(*args, 0, n)
        return
    edges = [(n * i) // T for i in range(T + 1)]
    _run_blocks([(kernel, args + (edges[i], edges[i + 1]), {}) for i in range(T)])


# --- gemm ------------------------------------------------------------------------------------
SPLIT_FLOPS = 4e6  # below this a product runs on the calling thread only (set with PARALLEL_MIN, same runs)


def gemm(a, b, out=None):
    """out = a @ b for 2-d float arrays (views with unit last stride are fine), on
    ``get_num_threads()`` threads: the output is cut into that many column blocks
    (or row blocks when it is tall and narrow), each a single-threaded OpenBLAS call."""
    M, K = a.shape
    N = b.shape[1]
    if out is None:
        out = np.empty((M, N), np.result_type(a, b))
    blas_single_thread()
    T = _threads
    if T <= 1 or 2.0 * M * N * K < SPLIT_FLOPS or max(M, N) < 2 * T:
        np.matmul(a, b, out=out)
        return out
    if N >= M:
        edges = [(N * i) // T for i in range(T + 1)]
        blocks = [(np.matmul, (a, b[:, lo:hi]), {"out": out[:, lo:hi]}) for lo, hi in zip(edges, edges[1:])]
    else:
        edges = [(M * i) // T for i in range(T + 1)]
        blocks = [(np.matmul, (a[lo:hi], b), {"out": out[lo:hi]}) for lo, hi in zip(edges, edges[1:])]
    _run_blocks(blocks)
    return out
