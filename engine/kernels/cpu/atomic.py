"""Atomic flags for the thread pool (parallel.py): int64 cells of a numpy array that one
thread writes and another spins on, with the GIL released.

A plain Numba load in a loop may be hoisted out of it (nothing in the loop writes the
cell, as far as the compiler knows), so the loads and stores here are LLVM atomics,
sequentially consistent; between loads a spinning loop runs the CPU's ``pause`` (x86),
which spares the other hyperthread and the memory bus.

    wait_while(a, i, value, spins)    spins until a[i] != value: True, or False after
                                      ``spins`` rounds (see spins_per_us)
    publish(a, i, value, flags, j)    a[i] = value, then whether flags[j] != 0: the
                                      store-then-load half of a sleep/wake handshake
    store(a, i, value), load(a, i)
"""
from __future__ import annotations

import platform
import time

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")


def _cell(context, builder, arrty, arr, idx):
    data = cgutils.create_struct_proxy(arrty)(context, builder, value=arr).data
    return builder.gep(data, [idx])


def _int64_cells(arr):
    if not (isinstance(arr, types.Array) and arr.dtype == types.int64 and arr.ndim == 1 and arr.layout == "C"):
        raise TypeError(f"atomic cells are a contiguous 1-d int64 array, got {arr}")


@intrinsic
def _load(typingctx, arr, idx):
    _int64_cells(arr)

    def codegen(context, builder, sig, args):
        return builder.load_atomic(_cell(context, builder, sig.args[0], args[0], args[1]), "seq_cst", 8)
    return types.int64(arr, types.intp), codegen


@intrinsic
def _store(typingctx, arr, idx, value):
    _int64_cells(arr)

    def codegen(context, builder, sig, args):
        builder.store_atomic(args[2], _cell(context, builder, sig.args[0], args[0], args[1]), "seq_cst", 8)
        return context.get_dummy_value()
    return types.void(arr, types.intp, types.int64), codegen


@intrinsic
def _pause(typingctx):
    def codegen(context, builder, sig, args):
        if _X86:
            fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), []),
                                                "llvm.x86.sse2.pause")
            builder.call(fn, [])
        return context.get_dummy_value()
    return types.void(), codegen


_jit = njit(nogil=True, cache=True)


@_jit
def load(a, i):
    return _load(a, i)


@_jit
def store(a, i, value):
    _store(a, i, value)


@_jit
def publish(a, i, value, flags, j):
    _store(a, i, value)
    return _load(flags, j) != 0


@_jit
def wait_while(a, i, value, spins):
    for _ in range(spins):
        if _load(a, i) != value:
            return True
        _pause()
    return _load(a, i) != value


def spins_per_us() -> float:
    """Rounds of wait_while per microsecond on this CPU (``pause`` takes 3 to 140 cycles
    depending on the model), measured once over about 100 us."""
    cell = np.zeros(1, np.int64)
    wait_while(cell, 0, 0, 1)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        wait_while(cell, 0, 0, 4000)
        best = min(best, time.perf_counter() - t)
    return 4000 / max(best * 1e6, 1e-3)
