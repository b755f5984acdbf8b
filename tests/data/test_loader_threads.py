"""Loader worker threads running their data kernels while the training thread runs the
engine's kernels (on the engine's own thread pool): the batches are those of a loader
without workers, and the process ends cleanly. The scenario runs in a child process,
so a regression shows as a failed test rather than a dead test run.
"""

import subprocess
import sys
from pathlib import Path

SCENARIO = Path(__file__).with_name("loader_thread_scenario.py")


def test_workers_alongside_a_training_step_in_the_main_thread():
    result = subprocess.run([sys.executable, str(SCENARIO)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["ok", str(2 * 2048)]
