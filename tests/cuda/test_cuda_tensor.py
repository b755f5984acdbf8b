"""Array plumbing on the device vs the CPU set."""
import numpy as np
import pytest
from helpers.cuda import assert_close, randn, up

from engine.kernels import device_of


def test_transfers_and_allocation(gpu, rng):
    x = randn(rng, 2, 3, 4)
    d = gpu.asarray(x)
    assert device_of(d) == "cuda" and d.shape == x.shape and d.dtype == np.float32
    assert gpu.asarray(d) is d
    np.testing.assert_array_equal(gpu.to_host(d), x)
    assert gpu.asarray(d, dtype=np.float64).dtype == np.float64
    assert isinstance(gpu.to_host(x), np.ndarray)
    z = gpu.zeros((3, 5))
    assert_close(z, np.zeros((3, 5), np.float32))
    assert_close(gpu.zeros_like(d), np.zeros_like(x))
    gpu.fill(d, 2.5)
    assert_close(d, np.full_like(x, 2.5))
    gpu.copy_into(d, x)
    assert_close(d, x)
    e = gpu.zeros(x.shape)
    gpu.copy_into(e, d)
    assert_close(e, x)
    i = gpu.asarray(np.arange(5), dtype=np.int64)
    assert i.dtype == np.int64
    np.testing.assert_array_equal(gpu.to_host(i), np.arange(5))


def test_add_and_add_(gpu, cpu, rng):
    a, b = randn(rng, 2, 3, 5), randn(rng, 2, 3, 5)
    assert_close(gpu.add(up(a), up(b)), cpu.add(a, b))
    da = up(a)
    gpu.add_(da, up(b))
    assert_close(da, a + b)
    joined = cpu.add(a, b, relu=True)  # the residual join with its ReLU fused in
    np.testing.assert_array_equal(joined, np.maximum(a + b, 0))
    assert (joined == 0).any()
    assert_close(gpu.add(up(a), up(b), relu=True), joined)


@pytest.mark.parametrize("sizes", [(1, 2), (3, 1, 2)])
def test_concat_and_split_channels(gpu, cpu, rng, sizes):
    xs = [randn(rng, 2, c, 3, 2) for c in sizes]
    y = gpu.concat_channels([up(x) for x in xs])
    assert_close(y, cpu.concat_channels(xs))
    parts = gpu.split_channels(y, sizes)
    for p, x in zip(parts, xs):
        assert_close(p, x)


def test_argmax_rows_returns_host_indices(gpu, cpu, rng):
    z = randn(rng, 7, 4)
    z[2] = 1.0  # ties: the first wins, as numpy
    got = gpu.argmax_rows(up(z))
    assert isinstance(got, np.ndarray)
    np.testing.assert_array_equal(got, cpu.argmax_rows(z))


def test_device_memory_error_is_clear_and_names_layer_and_batch(gpu, monkeypatch):
    """Out-of-memory: the kernel layer raises DeviceMemoryError with the allocation;
    Sequential adds the layer path, type and batch size."""
    import engine
    from engine import nn
    from engine.kernels import DeviceMemoryError
    from engine.kernels.cuda import memory

    class FakeOOM(Exception):
        code = "CUDA_ERROR_OUT_OF_MEMORY"

    model = nn.Sequential(nn.Sequential(nn.Flatten(), nn.Linear(6, 3)), nn.ReLU()).to("cuda")
    x = engine.tensor(np.ones((4, 2, 3), np.float32), device="cuda")
    real = memory.cuda.device_array

    def device_array(shape, dtype=np.float32, *a, **k):
        if tuple(shape) == (4, 3):  # the Linear output
            raise FakeOOM("CUDA_ERROR_OUT_OF_MEMORY: out of memory")
        return real(shape, dtype, *a, **k)

    monkeypatch.setattr(memory.cuda, "device_array", device_array)
    with pytest.raises(DeviceMemoryError) as info:
        model(x)
    e = info.value
    assert isinstance(e, MemoryError)
    assert e.path == ("0", "1") and e.layer == "Linear" and e.batch_size == 4
    msg = str(e)
    assert "layer '0.1' (Linear)" in msg and "batch size 4" in msg and "(4, 3)" in msg
    monkeypatch.setattr(memory.cuda, "device_array", real)
    assert model.forward(x).shape == (4, 3)  # still usable afterwards
