"""Opt-in (NUMBACNN_PTX_CHECK=1; about a minute): compile every kernel for sm_90 with the
real CUDA compiler (libNVVM, no GPU needed) and check no float32 kernel uses float64."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.process import child_env


@pytest.mark.skipif(os.environ.get("NUMBACNN_PTX_CHECK") != "1",
                    reason="set NUMBACNN_PTX_CHECK=1 to compile every kernel to PTX (needs libNVVM)")
def test_every_kernel_compiles_to_ptx_without_float64():
    script = Path(__file__).resolve().parent / "ptx_check.py"
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=900,
                       env=child_env(NUMBA_ENABLE_CUDASIM="0"))
    if r.returncode == 3:
        pytest.skip(r.stdout.strip())
    assert r.returncode == 0, r.stdout + r.stderr
