"""Loader worker threads running while the training thread runs parallel Numba kernels.

Numba's workqueue threading layer (the fallback when neither TBB nor OpenMP
is usable) aborts the whole process when two Python threads enter parallel
regions at once, so the loader's kernels must not be parallel. The scenario
runs in a child process forced onto that layer, so a regression shows as a
failed test rather than a dead test run.
"""

import os
import subprocess
import sys
from pathlib import Path

SCENARIO = Path(__file__).with_name("loader_thread_scenario.py")


def test_workers_alongside_parallel_kernels_in_the_main_thread():
    env = dict(os.environ, NUMBA_THREADING_LAYER="workqueue")
    result = subprocess.run([sys.executable, str(SCENARIO)], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["ok", str(2 * 2048)]
