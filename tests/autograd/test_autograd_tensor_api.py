"""The tensor API course code uses, each idiom run by numbacnn and by torch and the
results compared: same values, same dtype (by name: ours are numpy dtypes), same shape,
same Python types for item()/tolist()/size(), and torch's return conventions
(``_, predicted = outputs.max(1)`` gives indices)."""
import numpy as np
import pytest
from helpers.autograd_parity import OURS, torch_ns

import engine

torch = pytest.importorskip("torch")
TORCH = torch_ns()

LOGITS = [[0.1, 2.0, -1.0], [3.0, 0.5, 0.2], [0.0, -0.3, 0.9], [1.5, 1.4, -2.0]]
LABELS = [1, 0, 0, 2]


def _same(ours, ref, what):
    """Values, dtypes and types equal (tensors by value, dtype name and shape)."""
    if isinstance(ref, torch.Tensor):
        assert isinstance(ours, engine.Tensor), f"{what}: {type(ours).__name__}, torch gives a tensor"
        assert ours.dtype.name == str(ref.dtype).replace("torch.", ""), \
            f"{what}: dtype {ours.dtype}, torch's {ref.dtype}"
        assert ours.shape == tuple(ref.shape), f"{what}: shape {ours.shape}, torch's {tuple(ref.shape)}"
        np.testing.assert_allclose(ours.numpy(), ref.detach().numpy(), rtol=1e-6, atol=1e-7, err_msg=what)
    elif isinstance(ref, (tuple, list)):
        assert isinstance(ours, (tuple, list)) and len(ours) == len(ref), f"{what}: {ours!r} vs torch's {ref!r}"
        for i, (o, r) in enumerate(zip(ours, ref)):
            _same(o, r, f"{what}[{i}]")
    elif isinstance(ref, torch.dtype):
        assert np.dtype(ours).name == str(ref).replace("torch.", ""), f"{what}: {ours} vs {ref}"
    else:
        assert type(ours) is type(ref), f"{what}: {type(ours).__name__} {ours!r}, torch's {type(ref).__name__} {ref!r}"
        close = ours == pytest.approx(ref, rel=1e-6) if isinstance(ref, float) else ours == ref
        assert close, f"{what}: {ours!r}, torch's {ref!r}"


def same(fn):
    """fn(ns) gives equal results in both libraries."""
    _same(fn(OURS), fn(TORCH), "result")


def _flatten_batch(x):
    return x.view(x.size(0), -1)


IDIOMS = {
    # shapes
    "shape": lambda ns: tuple(ns.torch.zeros(2, 3, 4).shape),
    "size": lambda ns: tuple(ns.torch.zeros(2, 3, 4).size()),
    "size_dim": lambda ns: ns.torch.zeros(2, 3, 4).size(1),
    "size_negative": lambda ns: ns.torch.zeros(2, 3, 4).size(-1),
    "shape_index": lambda ns: ns.torch.zeros(2, 3, 4).shape[0],
    "dim": lambda ns: ns.torch.zeros(2, 3, 4).dim(),
    "ndim": lambda ns: ns.torch.zeros(2, 3, 4).ndim,
    "numel": lambda ns: ns.torch.zeros(2, 3, 4).numel(),
    "nelement": lambda ns: ns.torch.zeros(2, 3, 4).nelement(),
    "len": lambda ns: len(ns.torch.zeros(2, 3, 4)),
    "view_flat": lambda ns: ns.torch.arange(24).view(2, -1),
    "view_batch": lambda ns: _flatten_batch(ns.torch.arange(24.0).reshape(2, 3, 4)),
    "reshape": lambda ns: ns.torch.arange(6).reshape(3, 2),
    "flatten": lambda ns: ns.torch.arange(24).reshape(2, 3, 4).flatten(1),
    "permute": lambda ns: ns.torch.arange(24).reshape(2, 3, 4).permute(2, 0, 1),
    "transpose": lambda ns: ns.torch.arange(6).reshape(2, 3).transpose(0, 1),
    "transpose_contiguous": lambda ns: ns.torch.arange(6).reshape(2, 3).t().is_contiguous(),
    "contiguous": lambda ns: ns.torch.arange(6).reshape(2, 3).t().contiguous().view(-1),
    "squeeze": lambda ns: ns.torch.zeros(1, 3, 1).squeeze(),
    "squeeze_dim": lambda ns: ns.torch.zeros(1, 3, 1).squeeze(0),
    "unsqueeze": lambda ns: ns.torch.arange(3).unsqueeze(0),
    "image_batch": lambda ns: ns.torch.zeros(3, 8, 8).unsqueeze(0).shape[0],
    # indexing
    "index_row": lambda ns: ns.torch.tensor(LOGITS)[1],
    "index_element": lambda ns: ns.torch.tensor(LOGITS)[1, 2],
    "index_element_item": lambda ns: ns.torch.tensor(LOGITS)[1, 2].item(),
    "slice": lambda ns: ns.torch.tensor(LOGITS)[:2, 1:],
    "index_bool": lambda ns: ns.torch.tensor(LOGITS)[ns.torch.tensor(LOGITS) > 0.5],
    "index_tensor": lambda ns: ns.torch.tensor(LOGITS)[ns.torch.tensor([3, 0])],
    "index_labels": lambda ns: ns.torch.tensor(LOGITS)[ns.torch.arange(4), ns.torch.tensor(LABELS)],
    # arithmetic, broadcasting, dtypes
    "add_broadcast": lambda ns: ns.torch.tensor(LOGITS) + ns.torch.tensor([1.0, 2.0, 3.0]),
    "normalize": lambda ns: ((ns.torch.tensor(LOGITS) - ns.torch.tensor(LOGITS).mean(0))
                             / ns.torch.tensor(LOGITS).std(0)),
    "matmul": lambda ns: ns.torch.tensor(LOGITS) @ ns.torch.ones(3, 2),
    "int_plus_int": lambda ns: ns.torch.tensor([1, 2]) + ns.torch.tensor([3, 4]),
    "int_plus_float_scalar": lambda ns: ns.torch.tensor([1, 2]) + 0.5,
    "int_times_int_scalar": lambda ns: ns.torch.tensor([1, 2]) * 3,
    "int_div_int": lambda ns: ns.torch.tensor([1, 2]) / ns.torch.tensor([2, 4]),
    "int_div_scalar": lambda ns: ns.torch.tensor([1, 2]) / 2,
    "int_times_float32": lambda ns: ns.torch.tensor([1, 2]) * ns.torch.tensor([0.5, 0.25]),
    "int32_plus_float32": lambda ns: ns.torch.tensor([1, 2], dtype=ns.torch.int32) + ns.torch.tensor([0.5, 0.25]),
    "float32_times_numpy_float64": lambda ns: ns.torch.tensor([0.5, 0.25]) * np.float64(3),
    "float32_plus_float64": lambda ns: ns.torch.tensor([0.5]) + ns.torch.tensor([0.25], dtype=ns.torch.float64),
    "float32_plus_0d_float64": lambda ns: ns.torch.tensor([0.5]) + ns.torch.tensor(0.25, dtype=ns.torch.float64),
    "int_pow": lambda ns: ns.torch.tensor([2, 3]) ** 2,
    "int_pow_half": lambda ns: ns.torch.tensor([4, 9]) ** 0.5,
    "int_sqrt": lambda ns: ns.torch.sqrt(ns.torch.tensor([4, 9])),
    "int_exp": lambda ns: ns.torch.exp(ns.torch.tensor([0, 1])),
    "neg_int": lambda ns: -ns.torch.tensor([1, 2]),
    "bool_sum": lambda ns: (ns.torch.tensor([1, 2, 3]) > 1).sum(),
    "rsub": lambda ns: 1 - ns.torch.tensor([0.25]),
    "floordiv": lambda ns: ns.torch.tensor([7, 8]) // 2,
    "mod": lambda ns: ns.torch.tensor([7, 8]) % 3,
    # reductions and torch's return conventions
    "sum": lambda ns: ns.torch.tensor(LOGITS).sum(),
    "sum_dim_keepdim": lambda ns: ns.torch.tensor(LOGITS).sum(1, keepdim=True),
    "sum_int": lambda ns: ns.torch.tensor(LABELS).sum(),
    "mean_dim": lambda ns: ns.torch.tensor(LOGITS).mean(dim=0),
    "max_all": lambda ns: ns.torch.tensor(LOGITS).max(),
    "max_dim_pair": lambda ns: tuple(ns.torch.tensor(LOGITS).max(1)),
    "max_dim_predicted": lambda ns: ns.torch.tensor(LOGITS).max(1)[1],
    "max_dim_named": lambda ns: (ns.torch.tensor(LOGITS).max(dim=1).values, ns.torch.tensor(LOGITS).max(dim=1).indices),
    "max_keepdim": lambda ns: tuple(ns.torch.tensor(LOGITS).max(0, keepdim=True)),
    "torch_max_dim": lambda ns: tuple(ns.torch.max(ns.torch.tensor(LOGITS), 1)),
    "torch_max_dim_data": lambda ns: ns.torch.max(ns.torch.tensor(LOGITS).data, 1)[1],
    "min_dim": lambda ns: tuple(ns.torch.tensor(LOGITS).min(dim=0)),
    "argmax": lambda ns: ns.torch.tensor(LOGITS).argmax(),
    "argmax_dim": lambda ns: ns.torch.tensor(LOGITS).argmax(dim=1),
    "argmax_keepdim": lambda ns: ns.torch.tensor(LOGITS).argmax(1, keepdim=True),
    "torch_argmax": lambda ns: ns.torch.argmax(ns.torch.tensor(LOGITS), 1),
    "argmin": lambda ns: ns.torch.tensor(LOGITS).argmin(0),
    # comparisons and accuracy
    "eq_labels": lambda ns: ns.torch.tensor(LOGITS).max(1)[1] == ns.torch.tensor(LABELS),
    "eq_method": lambda ns: ns.torch.tensor(LOGITS).argmax(1).eq(ns.torch.tensor(LABELS)),
    "correct_item": lambda ns: (ns.torch.tensor(LOGITS).max(1)[1] == ns.torch.tensor(LABELS)).sum().item(),
    "correct_eq_sum_item": lambda ns: ns.torch.tensor(LOGITS).argmax(1).eq(ns.torch.tensor(LABELS)).sum().item(),
    "accuracy": lambda ns: 100.0 * (ns.torch.tensor(LOGITS).argmax(1) == ns.torch.tensor(LABELS)).float().mean().item(),
    "compare_scalar": lambda ns: ns.torch.tensor(LOGITS) > 0.5,
    "ne": lambda ns: ns.torch.tensor(LABELS) != 0,
    "equal": lambda ns: ns.torch.tensor(LABELS).equal(ns.torch.tensor(LABELS)),
    # conversions
    "float": lambda ns: ns.torch.tensor(LABELS).float(),
    "long": lambda ns: ns.torch.tensor([1.7, -1.7]).long(),
    "double": lambda ns: ns.torch.tensor([1.5]).double(),
    "int": lambda ns: ns.torch.tensor([1.7]).int(),
    "bool": lambda ns: ns.torch.tensor([0.0, 2.0]).bool(),
    "to_dtype": lambda ns: ns.torch.tensor(LABELS).to(ns.torch.float32),
    "item_float": lambda ns: ns.torch.tensor([2.5]).item(),
    "item_int": lambda ns: ns.torch.tensor(7).item(),
    "float_builtin": lambda ns: float(ns.torch.tensor(2.5)),
    "int_builtin": lambda ns: int(ns.torch.tensor(7)),
    "tolist": lambda ns: ns.torch.tensor(LABELS).tolist(),
    "tolist_nested": lambda ns: ns.torch.tensor([[1.5, 2.0]]).tolist(),
    "clone": lambda ns: ns.torch.tensor(LOGITS).clone(),
    "detach_numpy_sum": lambda ns: float(ns.torch.tensor(LOGITS, requires_grad=True).detach().numpy().sum()),
    # creation
    "tensor_floats": lambda ns: ns.torch.tensor([1.0, 2.0]),
    "tensor_ints": lambda ns: ns.torch.tensor([1, 2]),
    "tensor_bools": lambda ns: ns.torch.tensor([True, False]),
    "tensor_scalar": lambda ns: ns.torch.tensor(3.0),
    "tensor_numpy_float64": lambda ns: ns.torch.tensor(np.array([1.0, 2.0])),
    "tensor_dtype": lambda ns: ns.torch.tensor([1, 2], dtype=ns.torch.float32),
    "tensor_long": lambda ns: ns.torch.tensor([1.0, 2.0], dtype=ns.torch.long),
    "from_numpy_float64": lambda ns: ns.torch.from_numpy(np.array([1.0, 2.0])),
    "from_numpy_uint8": lambda ns: ns.torch.from_numpy(np.array([1, 255], np.uint8)),
    "zeros": lambda ns: ns.torch.zeros(2, 3),
    "zeros_tuple": lambda ns: ns.torch.zeros((2, 3)),
    "zeros_long": lambda ns: ns.torch.zeros(3, dtype=ns.torch.long),
    "ones": lambda ns: ns.torch.ones(2, 1),
    "zeros_like": lambda ns: ns.torch.zeros_like(ns.torch.tensor(LABELS)),
    "ones_like": lambda ns: ns.torch.ones_like(ns.torch.tensor(LOGITS)),
    "full": lambda ns: ns.torch.full((2,), 1.5),
    "arange": lambda ns: ns.torch.arange(5),
    "arange_start_step": lambda ns: ns.torch.arange(1, 10, 3),
    "arange_float": lambda ns: ns.torch.arange(0, 1, 0.25),
    "eye": lambda ns: ns.torch.eye(3),
    "linspace": lambda ns: ns.torch.linspace(0, 1, 5),
    "cat": lambda ns: ns.torch.cat([ns.torch.zeros(2, 3), ns.torch.ones(1, 3)]),
    "cat_dim": lambda ns: ns.torch.cat((ns.torch.zeros(2, 3), ns.torch.ones(2, 1)), dim=1),
    "cat_ints": lambda ns: ns.torch.cat([ns.torch.tensor([1]), ns.torch.tensor([2, 3])]),
    "stack": lambda ns: ns.torch.stack([ns.torch.zeros(2), ns.torch.ones(2)]),
    "stack_dim": lambda ns: ns.torch.stack([ns.torch.zeros(2), ns.torch.ones(2)], dim=1),
    "torch_flatten": lambda ns: ns.torch.flatten(ns.torch.zeros(2, 3, 4), 1),
    "torch_flatten_all": lambda ns: ns.torch.flatten(ns.torch.zeros(2, 3, 4)),
    "randn_shape": lambda ns: (tuple(ns.torch.randn(2, 3).shape), ns.torch.randn(2, 3).dtype),
    "rand_shape": lambda ns: (tuple(ns.torch.rand((4,)).shape), ns.torch.rand(4).dtype),
    "randperm": lambda ns: (sorted(ns.torch.randperm(6).tolist()), ns.torch.randperm(6).dtype),
    "randint": lambda ns: (tuple(ns.torch.randint(0, 5, (3,)).shape), ns.torch.randint(0, 5, (3,)).dtype),
    "numel_function": lambda ns: ns.torch.numel(ns.torch.zeros(2, 3)),
    "is_tensor": lambda ns: ns.torch.is_tensor(ns.torch.zeros(1)),
    # devices
    "device_str": lambda ns: str(ns.torch.device("cpu")),
    "device_type": lambda ns: ns.torch.device("cpu").type,
    "tensor_device": lambda ns: str(ns.torch.zeros(1).device),
    "device_eq": lambda ns: ns.torch.zeros(1).device == ns.torch.device("cpu"),
    "to_device": lambda ns: ns.torch.tensor(LABELS).to(ns.torch.device("cpu")),
    "to_string_device": lambda ns: ns.torch.tensor(LABELS).to("cpu"),
    "cpu": lambda ns: ns.torch.tensor(LABELS).cpu(),
    "is_cuda": lambda ns: ns.torch.zeros(1).is_cuda,
}


@pytest.mark.parametrize("name", list(IDIOMS))
def test_idiom_matches_torch(name):
    same(IDIOMS[name])


# --- in place, outside the graph ------------------------------------------------------------------
def _sgd_by_hand(ns):
    """The course's manual update: p -= lr * p.grad under no_grad, then p.grad.zero_()."""
    w = ns.torch.tensor([[0.5, -1.0], [2.0, 0.25]], requires_grad=True)
    before = w
    for _ in range(2):
        loss = ((ns.torch.tensor([[1.0, 2.0]]) @ w) ** 2).sum()
        loss.backward()
        with ns.torch.no_grad():
            w -= 0.1 * w.grad
            w.grad.zero_()
    return w is before, w.detach().clone(), w.grad, w.requires_grad, w.is_leaf


def test_manual_sgd_update_matches_torch():
    same(_sgd_by_hand)


INPLACE = {
    "zero_": lambda ns, t: t.zero_(),
    "fill_": lambda ns, t: t.fill_(2.5),
    "copy_": lambda ns, t: t.copy_(ns.torch.tensor([[1.0, 2.0, 3.0]])),
    "add_": lambda ns, t: t.add_(ns.torch.ones(2, 3)),
    "add_alpha": lambda ns, t: t.add_(ns.torch.ones(2, 3), alpha=-0.5),
    "add_scalar": lambda ns, t: t.add_(1.5),
    "sub_": lambda ns, t: t.sub_(ns.torch.ones(3)),
    "mul_": lambda ns, t: t.mul_(3),
    "mul_tensor": lambda ns, t: t.mul_(ns.torch.tensor([1.0, 0.0, -1.0])),
    "div_": lambda ns, t: t.div_(4),
    "clamp_": lambda ns, t: t.clamp_(-0.5, 0.5),
    "iadd": lambda ns, t: t.__iadd__(ns.torch.ones(3)),
    "imul": lambda ns, t: t.__imul__(2),
    "isub": lambda ns, t: t.__isub__(0.5),
    "itruediv": lambda ns, t: t.__itruediv__(2),
    "setitem": lambda ns, t: t.__setitem__((0, slice(None)), 7.0),
    "setitem_mask": lambda ns, t: t.__setitem__(t > 0, 0.0),
    "setitem_tensor": lambda ns, t: t.__setitem__(1, ns.torch.tensor([9.0, 8.0, 7.0])),
}


@pytest.mark.parametrize("name", list(INPLACE))
@pytest.mark.parametrize("on", ["tensor", "parameter_under_no_grad", "data"])
def test_inplace_changes_the_tensor_itself(name, on):
    """In place on a plain tensor, on a Parameter under no_grad, and on ``p.data``: the
    same object holds the new values (and a Parameter's module sees them)."""
    def run(ns):
        values = [[0.5, -1.0, 2.0], [0.25, -0.75, 1.0]]
        if on == "tensor":
            t = target = ns.torch.tensor(values)
            INPLACE[name](ns, t)
        elif on == "data":
            target = ns.nn.Parameter(ns.torch.tensor(values))
            INPLACE[name](ns, target.data)
        else:
            t = target = ns.nn.Parameter(ns.torch.tensor(values))
            with ns.torch.no_grad():
                INPLACE[name](ns, t)
        return target.detach().clone(), target.requires_grad
    same(run)


def test_data_and_grad_are_tensors_sharing_memory():
    p = engine.nn.Parameter(engine.ones(3))
    (p * 2).sum().backward()
    assert isinstance(p.data, engine.Tensor) and isinstance(p.grad, engine.Tensor)
    assert not p.data.requires_grad and p.data.is_leaf
    p.data.mul_(4)
    p.grad.zero_()
    np.testing.assert_array_equal(p.detach().numpy(), [4.0, 4.0, 4.0])
    np.testing.assert_array_equal(p.grad.numpy(), [0.0, 0.0, 0.0])
    assert np.shares_memory(p.numpy(), p.data.numpy())


def test_numpy_shares_memory_and_from_numpy_too():
    a = np.zeros(3, np.float32)
    t = engine.from_numpy(a)
    a[0] = 5
    assert t[0].item() == 5.0
    t.numpy()[1] = 6
    assert a[1] == 6
    c = t.clone()
    c.fill_(1)
    assert a[2] == 0


def test_manual_seed_repeats_random_tensors():
    engine.manual_seed(7)
    first = [engine.randn(3).tolist(), engine.rand(2).tolist(), engine.randperm(5).tolist()]
    engine.manual_seed(7)
    assert [engine.randn(3).tolist(), engine.rand(2).tolist(), engine.randperm(5).tolist()] == first
    engine.manual_seed(7)
    a, b = engine.nn.Linear(3, 2), None
    engine.manual_seed(7)
    b = engine.nn.Linear(3, 2)
    np.testing.assert_array_equal(a.weight.numpy(), b.weight.numpy())


def test_random_tensors_have_the_documented_distribution():
    engine.manual_seed(0)
    n = engine.randn(20000)
    u = engine.rand(20000)
    assert abs(n.mean().item()) < 0.05 and abs(n.std().item() - 1) < 0.05
    assert 0 <= u.min().item() and u.max().item() < 1 and abs(u.mean().item() - 0.5) < 0.02


def test_cuda_is_available_and_device_idiom():
    assert isinstance(engine.cuda.is_available(), bool)
    dev = engine.device("cuda:0" if engine.cuda.is_available() else "cpu")
    assert engine.zeros(2).to(dev).device.type == dev.type
    assert engine.device("cuda:0") == "cuda:0" and engine.device("cpu") == "cpu"
