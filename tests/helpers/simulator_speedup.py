"""A faster block manager for Numba's CUDA simulator (tests only).

The simulator runs every GPU thread of a block as a Python thread; its BlockManager
waits for them by busy-polling while holding the GIL, which starves the threads it waits
for. This version polls with a 50-microsecond sleep. The barrier semantics are the
simulator's own: a block proceeds past syncthreads() when every live thread is blocked
in it; an exception in any thread aborts the block and is re-raised.
"""
import time

import numpy as np


def install() -> bool:
    from numba.cuda.simulator import kernel as K
    if not hasattr(K, "BlockManager") or not hasattr(K, "BlockThread"):
        return False
    if getattr(K.BlockManager.run, "_numbacnn", False):
        return True

    def run(self, grid_point, *args):
        threads = []
        for block_point in np.ndindex(*self._block_dim):
            def target():
                self._f(*args)
            t = K.BlockThread(target, self, grid_point, block_point, self._debug)
            t.start()
            threads.append(t)
        live = list(threads)
        while live:
            blocked = 0
            for t in live:
                if t.exception:
                    for other in threads:
                        other.abort = True
                        other.syncthreads_blocked = False
                        other.syncthreads_event.set()
                    raise t.exception[0].with_traceback(t.exception[1])
                if t.syncthreads_blocked:
                    blocked += 1
            if blocked == len(live):
                for t in live:
                    t.syncthreads_blocked = False
                    t.syncthreads_event.set()
            else:
                time.sleep(0.00005)
            live = [t for t in live if t.is_alive()]
        for t in threads:
            if t.exception:
                raise t.exception[0].with_traceback(t.exception[1])

    run._numbacnn = True
    K.BlockManager.run = run
    return True
