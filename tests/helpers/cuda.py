"""Helpers for the tests that run CUDA kernels (tests/cuda, and the cuda half of tests/kernels' ops
fixture): upload, compare, and shape sizes that depend on the device."""
import numpy as np

from engine.kernels import cuda as GPU

SIM = bool(GPU.SIM)


def big(small, large):
    """``small`` under the simulator (every GPU thread is a Python thread), ``large`` on a GPU."""
    return small if SIM else large


def up(a):
    """Host array -> device array."""
    return GPU.asarray(np.ascontiguousarray(a))


def host(a):
    return GPU.to_host(a) if a is not None and not isinstance(a, np.ndarray) else a


def assert_close(got, want, rtol=1e-4, atol=1e-5, what=""):
    """got (device or host) == want (host) within float32 tolerance, same shape and dtype."""
    got = host(got)
    want = np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=what)


def randn(rng, *shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)
