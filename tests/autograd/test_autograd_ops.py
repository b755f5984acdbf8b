"""Every tensor operation's forward and backward against PyTorch (float32: output, dtype
and every input gradient for one random output gradient) and against central
differences (float64, engine.nn.gradcheck). Each case is written once and run by both
libraries (see helpers/autograd_parity.py)."""
import numpy as np
import pytest
from helpers.autograd_parity import distinct, gradchecks, parity
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import engine
from engine.autograd import Tensor

# (id, fn(ns, *tensors), input shapes, positive inputs?)
CASES = [
    # arithmetic, broadcasting either operand to the other
    ("add", lambda ns, a, b: a + b, [(3, 4), (3, 4)], False),
    ("add_row", lambda ns, a, b: a + b, [(3, 4), (4,)], False),
    ("add_into_row", lambda ns, a, b: a + b, [(4,), (2, 3, 4)], False),
    ("add_outer", lambda ns, a, b: a + b, [(3, 1), (1, 4)], False),
    ("radd_scalar", lambda ns, a: 2.5 + a, [(3, 4)], False),
    ("sub_col", lambda ns, a, b: a - b, [(2, 3, 4), (3, 1)], False),
    ("rsub_scalar", lambda ns, a: 1 - a, [(3, 4)], False),
    ("mul_bcast", lambda ns, a, b: a * b, [(2, 1, 4), (3, 1)], False),
    ("mul_scalar", lambda ns, a: a * 3, [(3, 4)], False),
    ("div", lambda ns, a, b: a / b, [(3, 4), (3, 4)], True),
    ("div_bcast", lambda ns, a, b: a / b, [(3, 1), (1, 4)], True),
    ("rdiv_scalar", lambda ns, a: 2 / a, [(3, 4)], True),
    ("neg", lambda ns, a: -a, [(3, 4)], False),
    ("add_method_alpha", lambda ns, a, b: a.add(b, alpha=2), [(3, 4), (4,)], False),
    ("sub_method", lambda ns, a, b: a.sub(b), [(3, 4), (4,)], False),
    ("mul_div_methods", lambda ns, a, b: a.mul(b).div(b + 3), [(3, 4), (3, 4)], True),
    # matmul
    ("matmul_2d", lambda ns, a, b: a @ b, [(3, 4), (4, 5)], False),
    ("matmul_batched_2d", lambda ns, a, b: a @ b, [(2, 3, 4), (4, 5)], False),
    ("matmul_batched_bcast", lambda ns, a, b: a.matmul(b), [(2, 1, 3, 4), (3, 4, 2)], False),
    ("matmul_vec_mat", lambda ns, a, b: a @ b, [(4,), (4, 5)], False),
    ("matmul_mat_vec", lambda ns, a, b: a @ b, [(3, 4), (4,)], False),
    ("matmul_vec_vec", lambda ns, a, b: a @ b, [(4,), (4,)], False),
    ("mm_function", lambda ns, a, b: ns.torch.mm(a, b), [(3, 4), (4, 2)], False),
    # powers and unary functions
    ("pow_int", lambda ns, a: a ** 3, [(3, 4)], False),
    ("pow_half", lambda ns, a: a.pow(0.5), [(3, 4)], True),
    ("pow_tensor", lambda ns, a, b: a ** b, [(3, 4), (4,)], True),
    ("rpow", lambda ns, a: 2.0 ** a, [(3, 4)], False),
    ("exp", lambda ns, a: a.exp(), [(3, 4)], False),
    ("exp_function", lambda ns, a: ns.torch.exp(a), [(3, 4)], False),
    ("log", lambda ns, a: a.log(), [(3, 4)], True),
    ("sqrt", lambda ns, a: ns.torch.sqrt(a), [(3, 4)], True),
    ("abs", lambda ns, a: a.abs(), [(3, 4)], False),
    ("abs_builtin", lambda ns, a: abs(a), [(3, 4)], False),
    ("clamp", lambda ns, a: a.clamp(-0.1, 0.2), [(3, 4)], False),
    ("clamp_min", lambda ns, a: a.clamp(min=0.0), [(3, 4)], False),
    ("clamp_max_function", lambda ns, a: ns.torch.clamp(a, max=0.05), [(3, 4)], False),
    # reductions
    ("sum", lambda ns, a: a.sum(), [(3, 4)], False),
    ("sum_dim", lambda ns, a: a.sum(1), [(2, 3, 4)], False),
    ("sum_dim_keepdim", lambda ns, a: a.sum(dim=0, keepdim=True), [(2, 3, 4)], False),
    ("sum_dims", lambda ns, a: a.sum((0, 2)), [(2, 3, 4)], False),
    ("sum_negative_dim", lambda ns, a: ns.torch.sum(a, -1), [(2, 3, 4)], False),
    ("mean", lambda ns, a: a.mean(), [(3, 4)], False),
    ("mean_dim_keepdim", lambda ns, a: a.mean(1, keepdim=True), [(2, 3, 4)], False),
    ("mean_dims", lambda ns, a: ns.torch.mean(a, (1, 2)), [(2, 3, 4)], False),
    ("var", lambda ns, a: a.var(), [(3, 4)], False),
    ("var_dim_biased", lambda ns, a: a.var(1, unbiased=False), [(3, 4)], False),
    ("var_dim_keepdim", lambda ns, a: a.var(dim=0, keepdim=True), [(3, 4)], False),
    ("std", lambda ns, a: a.std(), [(3, 4)], False),
    ("std_dim_keepdim", lambda ns, a: a.std(1, keepdim=True), [(3, 4)], False),
    ("max", lambda ns, a: a.max(), [(3, 4)], False),
    ("max_dim_values", lambda ns, a: a.max(1)[0], [(3, 4)], False),
    ("max_dim_keepdim", lambda ns, a: a.max(dim=0, keepdim=True).values, [(3, 4)], False),
    ("max_function_dim", lambda ns, a: ns.torch.max(a, -1)[0], [(2, 3, 4)], False),
    ("min", lambda ns, a: a.min(), [(3, 4)], False),
    ("min_dim", lambda ns, a: a.min(1).values, [(2, 3, 4)], False),
    ("min_dim_keepdim", lambda ns, a: a.min(2, keepdim=True)[0], [(2, 3, 4)], False),
    # shapes
    ("view", lambda ns, a: a.view(4, 6), [(2, 3, 4)], False),
    ("view_infer", lambda ns, a: a.view(-1, 4), [(2, 3, 4)], False),
    ("view_tuple", lambda ns, a: a.view((3, 8)), [(2, 3, 4)], False),
    ("reshape", lambda ns, a: a.reshape(2, -1), [(2, 3, 4)], False),
    ("reshape_after_permute", lambda ns, a: a.permute(2, 0, 1).reshape(-1), [(2, 3, 4)], False),
    ("flatten", lambda ns, a: a.flatten(), [(2, 3, 4)], False),
    ("flatten_from_1", lambda ns, a: a.flatten(1), [(2, 3, 4)], False),
    ("flatten_function", lambda ns, a: ns.torch.flatten(a, 0, 1), [(2, 3, 4)], False),
    ("permute", lambda ns, a: a.permute(2, 0, 1), [(2, 3, 4)], False),
    ("permute_tuple", lambda ns, a: a.permute((1, 2, 0)), [(2, 3, 4)], False),
    ("transpose", lambda ns, a: a.transpose(0, 2), [(2, 3, 4)], False),
    ("transpose_negative", lambda ns, a: a.transpose(-1, -2), [(2, 3, 4)], False),
    ("t", lambda ns, a: a.t(), [(3, 4)], False),
    ("T_contiguous_view", lambda ns, a: a.t().contiguous().view(-1), [(3, 4)], False),
    ("squeeze", lambda ns, a: a.squeeze(), [(1, 3, 1, 4)], False),
    ("squeeze_dim", lambda ns, a: a.squeeze(2), [(1, 3, 1, 4)], False),
    ("squeeze_dim_not_one", lambda ns, a: a.squeeze(1), [(1, 3, 1, 4)], False),
    ("unsqueeze", lambda ns, a: a.unsqueeze(1), [(3, 4)], False),
    ("unsqueeze_negative", lambda ns, a: a.unsqueeze(-1), [(3, 4)], False),
    ("expand", lambda ns, a: a.expand(2, 3, 4), [(3, 1)], False),
    ("expand_minus_one", lambda ns, a: a.expand(-1, 5), [(3, 1)], False),
    ("expand_as", lambda ns, a, b: a.expand_as(b) * b, [(1, 4), (3, 4)], False),
    # indexing and slicing
    ("index_int", lambda ns, a: a[1], [(3, 4)], False),
    ("index_negative", lambda ns, a: a[-1, 2], [(3, 4)], False),
    ("slice", lambda ns, a: a[:, 1:3], [(3, 4)], False),
    ("slice_step", lambda ns, a: a[::2, 1::2], [(3, 4)], False),
    ("ellipsis", lambda ns, a: a[..., 0], [(2, 3, 4)], False),
    ("none_axis", lambda ns, a: a[None, :, 1], [(3, 4)], False),
    ("index_tensor_repeats", lambda ns, a: a[ns.torch.tensor([0, 2, 2])], [(3, 4)], False),
    ("index_list", lambda ns, a: a[[2, 0]], [(3, 4)], False),
    ("index_tensor_second_axis", lambda ns, a: a[:, ns.torch.tensor([3, 1, 3])], [(3, 4)], False),
    ("index_pairs", lambda ns, a: a[ns.torch.tensor([0, 1, 2]), ns.torch.tensor([3, 3, 0])], [(3, 4)], False),
    ("index_bool_mask", lambda ns, a: a[a > 0], [(3, 4)], False),
    ("index_bool_rows", lambda ns, a: a[ns.torch.tensor([True, False, True])], [(3, 4)], False),
    # joins
    ("cat", lambda ns, a, b: ns.torch.cat([a, b]), [(2, 4), (3, 4)], False),
    ("cat_dim1", lambda ns, a, b, c: ns.torch.cat((a, b, c), dim=1), [(2, 1), (2, 3), (2, 2)], False),
    ("cat_negative_dim", lambda ns, a, b: ns.torch.cat([a, b], -1), [(2, 3, 1), (2, 3, 2)], False),
    ("stack", lambda ns, a, b: ns.torch.stack([a, b]), [(3, 4), (3, 4)], False),
    ("stack_dim", lambda ns, a, b: ns.torch.stack((a, b), dim=2), [(3, 4), (3, 4)], False),
    ("stack_negative_dim", lambda ns, a, b: ns.torch.stack([a, b], -1), [(3, 4), (3, 4)], False),
    # chains: a tensor used twice, sums of its uses' gradients
    ("reuse", lambda ns, a: a * a + a.exp() * a, [(3, 4)], False),
    ("softmax_by_hand", lambda ns, a: a.exp() / a.exp().sum(1, keepdim=True), [(3, 4)], False),
    # 0-d tensors (numpy gives scalars for their arithmetic)
    ("zero_d_chain", lambda ns, a, b: (a.exp() * b + a.abs() / b).sqrt() ** 3 + a.unsqueeze(0) @ b.expand(1),
     [(), ()], True),
    ("zero_d_stack", lambda ns, a, b: ns.torch.stack([a, b * a, b]) * ns.torch.cat([a.view(1), b.view(-1)])[0],
     [(), ()], False),
    ("max_dim_of_vector", lambda ns, a: a.max(0)[0] * a.min(-1).values + a.sum(0) * a.mean(0), [(5,)], False),
    ("zero_d_reductions", lambda ns, a: a.sum() * a.mean() + a.max() - a.clamp(0, 1) * a.reshape(1, 1).sum(),
     [()], False),
]


def _inputs(rng, shapes, positive):
    return [distinct(rng, s, positive=positive) for s in shapes]


@pytest.mark.parametrize("name, fn, shapes, positive", CASES, ids=[c[0] for c in CASES])
def test_matches_torch(name, fn, shapes, positive, rng):
    pytest.importorskip("torch")
    parity(fn, *_inputs(rng, shapes, positive))


@pytest.mark.parametrize("name, fn, shapes, positive", CASES, ids=[c[0] for c in CASES])
def test_gradcheck(name, fn, shapes, positive, rng):
    gradchecks(fn, *_inputs(rng, shapes, positive))


def test_sum_with_dtype_sums_in_that_dtype():
    """sum(dtype=float64) of float32 casts first, as torch: 2**24 + 1 + 1 is exact in
    float64, while a float32 sum rounds each partial sum back to 2**24."""
    a = Tensor(np.array([2.0 ** 24, 1.0, 1.0], np.float32), requires_grad=True)
    total = a.sum(dtype=np.float64)
    assert total.dtype == np.float64 and total.item() == 2.0 ** 24 + 2
    assert a.sum().item() == 2.0 ** 24
    total.backward()
    assert a.grad.dtype == np.float32 and np.array_equal(a.grad.numpy(), np.ones(3, np.float32))


BINARY = {"add": lambda ns, a, b: a + b, "sub": lambda ns, a, b: a - b, "mul": lambda ns, a, b: a * b,
          "div": lambda ns, a, b: a / b, "pow": lambda ns, a, b: a ** b}


@settings(max_examples=60, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=3),
       op=st.sampled_from(sorted(BINARY)), seed=st.integers(0, 2**16))
def test_broadcasting_either_way_matches_torch(shapes, op, seed):
    """Any two broadcastable shapes (either operand stretched, 0-d included): the result
    and both gradients (summed back over the stretched axes) are torch's."""
    pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    a, b = (distinct(rng, s, positive=op in ("div", "pow")) for s in shapes.input_shapes)
    parity(BINARY[op], a, b, rtol=1e-5)


def test_tensor_ops_on_cuda_match_the_cpu():
    """Under Numba's CUDA simulator (or a GPU): the numpy-written ops run on host copies
    of device arrays and hand results back on the device, 0-d ones included; values,
    gradients, hooks, dtypes and shapes equal the CPU's."""
    if not engine.cuda.is_available():
        pytest.skip(f"CUDA: {engine.cuda.unavailable_reason()}")

    def f(x, w, m):
        y = (x * m + x.exp() / 3) @ w
        z = engine.cat([y, y[:, :1] * 2], 1)
        picked = x.permute(1, 0).reshape(-1)[2] + engine.stack([x[0, 0], x[1, 1]]).sum() * x.var()
        return z.max(1)[0].sum() + z.mean() + (x[x > 0] ** 2).sum() + picked

    results = []
    for device in ("cpu", "cuda"):
        x = engine.tensor(np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)).to(device).requires_grad_()
        w = engine.tensor(np.linspace(0, 1, 8, dtype=np.float32).reshape(4, 2)).to(device).requires_grad_()
        m = engine.tensor(np.array([1, 0, 2, 1])).to(device)
        seen = []
        x.register_hook(lambda g: seen.append(g.cpu().numpy()))
        out = f(x, w, m)
        out.backward()
        assert out.device.type == device and x.grad.device.type == device
        results.append([(out.shape, out.dtype, x.grad.dtype), out.item(), x.grad.cpu().numpy(),
                        w.grad.cpu().numpy(), seen[0]])
    (meta, *values), (t_meta, *t_values) = results
    assert meta == t_meta
    for ours, ref in zip(values, t_values):
        np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)
