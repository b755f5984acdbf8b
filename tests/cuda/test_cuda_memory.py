"""Device memory: the caching allocator, workspaces, release."""
import subprocess
import sys
from pathlib import Path

import numpy as np

from engine.kernels.cuda import memory
from helpers.process import child_env

HERE = Path(__file__).resolve().parent


def test_caching_allocator_reuses_freed_blocks_and_survives_oom():
    r = subprocess.run([sys.executable, str(HERE / "allocator_check.py")], capture_output=True, text=True,
                       env=child_env(NUMBA_ENABLE_CUDASIM="0"), timeout=300)
    assert r.returncode == 0 and "caching allocator ok" in r.stdout, r.stdout + r.stderr


def test_round_size_bins():
    assert memory.round_size(1) == 512 and memory.round_size(513) == 1024
    assert memory.round_size(2**20) == 2**21 and memory.round_size(2**21 + 1) == 2**22


def test_workspace_is_reused_and_grows(gpu):
    a = memory.workspace("test.ws", (3, 4))
    b = memory.workspace("test.ws", (2, 5))
    assert a.shape == (3, 4) and b.shape == (2, 5)
    gpu.fill(b, 1.0)
    assert np.all(gpu.to_host(a).reshape(-1)[:10] == 1.0)  # same buffer
    c = memory.workspace("test.ws", (5, 5))               # grows
    assert c.shape == (5, 5)
    memory.release()
    assert memory.cached_bytes() == 0
