"""The host allocator settings: on by default with glibc, off with NUMBACNN_CPU_ALLOCATOR=default."""
import os
import subprocess
import sys

import pytest

CHECK = "import engine.kernels.cpu, engine.kernels.cpu.allocator as a; print(a._installed)"


def _installed(env_value):
    env = dict(os.environ)
    env.pop("NUMBACNN_CPU_ALLOCATOR", None)
    if env_value is not None:
        env["NUMBACNN_CPU_ALLOCATOR"] = env_value
    out = subprocess.run([sys.executable, "-c", CHECK], env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_installed_on_import_unless_opted_out():
    assert _installed(None) == "True"
    assert _installed("default") == "False"
