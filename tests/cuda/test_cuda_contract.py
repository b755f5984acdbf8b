"""The CUDA kernel set mirrors the CPU one: same names, same signatures."""
import inspect

from engine.kernels import cpu as CPU
from engine.kernels import cuda as GPU


def _public(mod):
    return {n for n in dir(mod) if not n.startswith("_") and callable(getattr(mod, n))
            and getattr(getattr(mod, n), "__module__", "").startswith(mod.__name__)}


def test_both_sets_export_exactly_the_same_names():
    assert set(CPU.__all__) == set(GPU.__all__), "the CUDA set's names are the CPU set's __all__"
    assert _public(CPU) <= set(CPU.__all__), f"public CPU functions not in __all__: {_public(CPU) - set(CPU.__all__)}"
    assert _public(GPU) <= set(GPU.__all__) | {"require", "unusable_reason", "available", "device_name"}, \
        f"public CUDA functions not in the CPU set: {_public(GPU) - set(GPU.__all__)}"
    assert all(callable(getattr(CPU, n)) and callable(getattr(GPU, n)) for n in CPU.__all__)


def test_every_cpu_name_exists_on_cuda_with_the_same_signature():
    names = set(CPU.__all__)
    assert names, "the CPU kernel set exports nothing?"
    missing = sorted(n for n in names if not hasattr(GPU, n))
    assert not missing, f"CUDA kernel set lacks {missing}"
    for n in sorted(names):
        a = inspect.signature(getattr(CPU, n))
        b = inspect.signature(getattr(GPU, n))
        assert list(a.parameters) == list(b.parameters), f"{n}: cpu{a} vs cuda{b}"
        for p in a.parameters:
            assert a.parameters[p].default == b.parameters[p].default, f"{n}: default of {p}"


def test_device_constant_and_require():
    assert CPU.DEVICE == "cpu" and GPU.DEVICE == "cuda"
    GPU.require()  # simulator or real GPU: usable
    from engine import cuda_available, kernels
    assert cuda_available()
    assert kernels.ops("cuda") is GPU
