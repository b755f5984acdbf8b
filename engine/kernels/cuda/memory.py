"""Device memory: allocation with clear out-of-memory errors, scratch workspaces, and a
caching allocator.

- ``empty(shape, dtype, what)`` allocates a device array. When the GPU is full it frees
  every cache this module holds, retries once, and otherwise raises
  :class:`engine.kernels.DeviceMemoryError` saying what was being allocated (shape,
  MiB, free/total); containers add the layer name and batch size on the way out.
- ``workspace(name, shape, dtype)``: one growing device buffer per name (im2col columns,
  split-K partial sums), allocated once per shape and reused by every later call.
- ``CachingMemoryManager``: a numba External Memory Management plugin that keeps freed
  blocks in per-size free lists and hands them out again, like PyTorch's caching
  allocator. A training step allocates the same sizes every iteration, so after the
  first step no ``cuMemAlloc``/``cuMemFree`` (which synchronises the device) is called.
  Reuse is safe because every kernel and copy of the engine runs on the default stream,
  in order. It is installed by ``install_allocator()`` (from ``require()``) before the
  CUDA context exists; ``NUMBACNN_CUDA_ALLOCATOR=default`` keeps numba's own allocator.
"""
from __future__ import annotations

import os
import weakref

import numpy as np
from numba import cuda

from .. import DeviceMemoryError
from .runtime import SIM

_workspaces: dict[tuple[str, str], object] = {}


def _nbytes(shape, dtype) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n * np.dtype(dtype).itemsize


def is_oom(e: BaseException) -> bool:
    """Whether a numba/CUDA exception is CUDA_ERROR_OUT_OF_MEMORY."""
    code = getattr(e, "code", None)
    if code is not None:
        try:
            from numba.cuda.cudadrv.driver import binding
            if code == binding.CUresult.CUDA_ERROR_OUT_OF_MEMORY:
                return True
        except Exception:  # pragma: no cover
            pass
        if str(code).endswith("OUT_OF_MEMORY") or code == 2:
            return True
    return "OUT_OF_MEMORY" in str(e).upper().replace(" ", "_")


def memory_info() -> tuple[int, int]:
    """(free, total) bytes of the current GPU; (0, 0) when unknown."""
    if SIM:
        return 0, 0
    try:
        free, total = cuda.current_context().get_memory_info()
        return int(free), int(total)
    except Exception:
        return 0, 0


def _oom_error(shape, dtype, what: str) -> DeviceMemoryError:
    mib = _nbytes(shape, dtype) / 2**20
    free, total = memory_info()
    have = f" ({free / 2**20:.0f} MiB of {total / 2**20:.0f} MiB free)" if total else ""
    thing = f" for {what}" if what else ""
    return DeviceMemoryError(f"allocating {tuple(int(s) for s in shape)} {np.dtype(dtype).name} "
                             f"({mib:.1f} MiB){thing} failed{have}")


def empty(shape, dtype=np.float32, what: str = ""):
    """An uninitialised C-contiguous device array; DeviceMemoryError when the GPU is full."""
    shape = tuple(int(s) for s in (shape if isinstance(shape, (tuple, list)) else (shape,)))
    try:
        return cuda.device_array(shape, dtype)
    except Exception as e:
        if not is_oom(e):
            raise
    release()
    try:
        return cuda.device_array(shape, dtype)
    except Exception as e:
        if not is_oom(e):
            raise
        raise _oom_error(shape, dtype, what) from None


def to_device(host: np.ndarray, what: str = ""):
    """A device copy of a host array (C-contiguous)."""
    host = np.asarray(host, order="C")  # np.ascontiguousarray would make a 0-d array (1,)
    d = empty(host.shape, host.dtype, what)
    if host.size:
        d.copy_to_device(host)
    return d


def flat(a):
    """A 1-d view of a C-contiguous device array (a contiguous copy otherwise; a host
    array is uploaded): what the kernels take."""
    if isinstance(a, np.ndarray):
        return to_device(np.ascontiguousarray(a).reshape(-1))
    if len(a.shape) == 1:
        if a.is_c_contiguous():
            return a
    elif a.is_c_contiguous():
        return a.reshape(a.size)
    return to_device(np.ascontiguousarray(a.copy_to_host())).reshape(a.size)


def workspace(name: str, shape, dtype=np.float32):
    """A C-contiguous scratch device array of ``shape`` named ``name``; contents undefined.

    Each name owns one flat buffer that only grows; callers must not hold two views of
    the same name at once (kernels queued on the default stream run in order, so a later
    call may reuse the buffer as soon as the earlier kernels are queued)."""
    dtype = np.dtype(dtype)
    size = 1
    for s in shape:
        size *= int(s)
    key = (name, dtype.str)
    buf = _workspaces.get(key)
    if buf is None or buf.size < size:
        _workspaces.pop(key, None)
        buf = empty((max(size, 1),), dtype, f"workspace '{name}' {tuple(int(s) for s in shape)}")
        _workspaces[key] = buf
    view = buf[:size] if buf.size != size else buf
    return view.reshape(tuple(int(s) for s in shape))


def release() -> None:
    """Frees every workspace and every cached block (e.g. after an out-of-memory error,
    or after training a large model); arrays still referenced stay valid."""
    _workspaces.clear()
    if SIM:
        return
    try:
        ctx = cuda.current_context()
        mm = ctx.memory_manager
        mm.deallocations.clear()
        if isinstance(mm, CachingMemoryManager):
            mm.empty_cache()
    except Exception:
        pass


def cached_bytes() -> int:
    """Bytes held in the caching allocator's free lists (0 without it)."""
    if SIM:
        return 0
    try:
        mm = cuda.current_context().memory_manager
        return mm.cached_bytes if isinstance(mm, CachingMemoryManager) else 0
    except Exception:
        return 0


# --- the caching allocator (real GPUs only) --------------------------------------------
try:
    from numba.cuda.cudadrv.driver import (AutoFreePointer, GetIpcHandleMixin,
                                           HostOnlyCUDAMemoryManager, MemoryInfo)
    from numba.cuda.cudadrv.driver import driver as _driver
    _HAVE_EMM = True
except Exception:  # pragma: no cover - an older or different numba-cuda
    _HAVE_EMM = False


def round_size(size: int) -> int:
    """Allocation sizes binned so repeated requests of similar sizes share blocks:
    multiples of 512 B below 1 MiB, of 2 MiB above."""
    size = max(int(size), 1)
    if size < 2**20:
        return (size + 511) // 512 * 512
    return (size + 2**21 - 1) // 2**21 * 2**21


if _HAVE_EMM:
    class CachingMemoryManager(GetIpcHandleMixin, HostOnlyCUDAMemoryManager):
        """Device allocations served from per-size free lists; freed blocks return to
        them instead of to the driver. On out-of-memory, the free lists are released
        to the driver and the allocation is retried once."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._free: dict[int, list] = {}
            self.cached_bytes = 0
            self.allocated_bytes = 0

        def initialize(self):
            from numba.cuda.cudadrv.driver import _SizeNotSet
            if self.deallocations.memory_capacity == _SizeNotSet:
                self.deallocations.memory_capacity = self.get_memory_info().total

        def _alloc_raw(self, rsize):
            try:
                return _driver.cuMemAlloc(rsize)
            except Exception as e:
                if not is_oom(e):
                    raise
            self.empty_cache()
            self.deallocations.clear()
            return _driver.cuMemAlloc(rsize)

        def memalloc(self, size):
            rsize = round_size(size)
            bucket = self._free.get(rsize)
            if bucket:
                ptr = bucket.pop()
                self.cached_bytes -= rsize
            else:
                ptr = self._alloc_raw(rsize)
                self.allocated_bytes += rsize
            ref = weakref.ref(self)
            key = ptr

            def finalizer():
                # runs once, when the last owner of the array lets go (refct 0)
                mm = ref()
                if mm is not None:
                    mm.allocations.pop(key, None)
                    mm._free.setdefault(rsize, []).append(ptr)
                    mm.cached_bytes += rsize

            # as numba's own manager: ``allocations`` holds the pointer object, the
            # returned OwnedPointer only a weak proxy plus the reference count
            mem = AutoFreePointer(weakref.proxy(self.context), ptr, size, finalizer=finalizer)
            self.allocations[key] = mem
            return mem.own()

        def empty_cache(self):
            """Returns every cached block to the driver."""
            for rsize, bucket in self._free.items():
                while bucket:
                    ptr = bucket.pop()
                    _driver.cuMemFree(ptr)
                    self.allocated_bytes -= rsize
            self._free.clear()
            self.cached_bytes = 0

        def get_memory_info(self):
            free, total = _driver.cuMemGetInfo()
            return MemoryInfo(free=free, total=total)

        def reset(self):
            super().reset()
            self._free.clear()  # the context is going away with its memory
            self.cached_bytes = 0
            self.allocated_bytes = 0

        @property
        def interface_version(self):
            return 1
else:
    class CachingMemoryManager:  # placeholder so isinstance checks work everywhere
        pass


_installed = False


def install_allocator() -> bool:
    """Makes numba use CachingMemoryManager for contexts created from now on (once;
    not under the simulator, not with NUMBACNN_CUDA_ALLOCATOR=default)."""
    global _installed
    if _installed or SIM or not _HAVE_EMM or os.environ.get("NUMBACNN_CUDA_ALLOCATOR", "caching") == "default":
        return _installed
    try:
        from numba.cuda.cudadrv import driver as drv
        if any(True for _ in _existing_contexts(drv)):
            return False  # a context exists already: it keeps numba's allocator
        cuda.set_memory_manager(CachingMemoryManager)
        _installed = True
    except Exception:
        _installed = False
    return _installed


def _existing_contexts(drv):
    try:
        from numba.cuda.cudadrv.devices import _runtime
        for gpu in _runtime.gpus:
            if getattr(gpu, "primary_context", None) is not None:
                yield gpu
    except Exception:
        return
