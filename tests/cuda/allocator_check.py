"""The caching device allocator (engine/kernels/cuda/memory.py) against a fake CUDA driver.

Runs without a GPU, outside the simulator (numba's real driver classes are needed):
``NUMBA_ENABLE_CUDASIM=0 python tests/cuda/allocator_check.py``; test_cuda_memory.py runs it.
"""
import gc
import os

os.environ["NUMBA_ENABLE_CUDASIM"] = "0"  # before numba is imported

from engine.kernels.cuda import memory  # noqa: E402

class OOM(Exception):
    code = "CUDA_ERROR_OUT_OF_MEMORY"

class FakeDriver:
    def __init__(self, capacity):
        self.capacity, self.used, self.next, self.live, self.frees = capacity, 0, 4096, {}, 0
    def cuMemAlloc(self, n):
        if self.used + n > self.capacity:
            raise OOM("CUDA_ERROR_OUT_OF_MEMORY")
        p = self.next
        self.next += n
        self.used += n
        self.live[p] = n
        return p
    def cuMemFree(self, p):
        self.used -= self.live.pop(p)
        self.frees += 1
    def cuMemGetInfo(self):
        return self.capacity - self.used, self.capacity

class Ctx:  # the context numba would pass
    pass

drv = FakeDriver(8 * 2**20)
memory._driver = drv
ctx = Ctx()
mm = memory.CachingMemoryManager(context=ctx)
a = mm.memalloc(1000)
pa = int(a.device_pointer)
b = mm.memalloc(1000)
assert int(b.device_pointer) != pa                       # a live block is never handed out twice
del a
gc.collect()
assert mm.cached_bytes == 1024 and drv.frees == 0        # freed into the cache, not to the driver
c = mm.memalloc(900)                                     # same size class: reused
assert int(c.device_pointer) == pa and mm.cached_bytes == 0
big = mm.memalloc(5 * 2**20)                             # 6 MiB class
del big, b
gc.collect()
assert mm.cached_bytes == 6 * 2**20 + 1024
again = mm.memalloc(3 * 2**20)                           # 4 MiB: needs the cache released (OOM -> retry)
assert drv.frees >= 1 and mm.cached_bytes <= 1024
try:
    mm.memalloc(64 * 2**20)
except OOM:
    pass
else:
    raise AssertionError("an impossible allocation must raise")
print("caching allocator ok")
