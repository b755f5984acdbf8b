"""A user's torch-style autograd.Function over tensors, and the rest of the torch API course
code reaches for: where, masked_fill, norm, sign, new_*, one_hot, clip_grad_norm_,
clip_grad_value_, del Sequential[i], torch.Tensor(list) as float."""
import numpy as np
import pytest

import engine
import engine.nn as nn
import engine.nn.functional as F
from engine.nn.gradcheck import gradcheck

torch = pytest.importorskip("torch")


class MyReLU(engine.autograd.Function):
    """PyTorch's tutorial idiom, over tensors."""

    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return input.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_output):
        input, = ctx.saved_tensors
        grad_input = grad_output.clone()
        grad_input[input < 0] = 0
        return grad_input


def test_a_tensor_function_trains_and_passes_gradcheck():
    rng = np.random.default_rng(0)
    x = engine.tensor(rng.standard_normal((4, 5)).astype(np.float32), requires_grad=True)
    y = MyReLU.apply(x * 2)
    assert y.grad_fn is not None
    (y * y).sum().backward()
    a = x.numpy()
    np.testing.assert_allclose(x.grad.numpy(), np.where(a > 0, 8 * a, 0), rtol=1e-6)
    assert gradcheck(lambda t: MyReLU.apply(t) * 3, rng.standard_normal(7) + 0.1)


def test_where_masked_fill_norm_sign_match_torch():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 4)).astype(np.float32)
    ours = engine.tensor(a, requires_grad=True)
    ref = torch.tensor(a, requires_grad=True)
    out = (engine.where(ours > 0, ours, ours * 0.1).sum() + ours.masked_fill(ours < 0, 0.5).norm()
           + ours.norm(1, dim=1).sum())
    want = (torch.where(ref > 0, ref, ref * 0.1).sum() + ref.masked_fill(ref < 0, 0.5).norm()
            + ref.norm(1, dim=1).sum())
    out.backward()
    want.backward()
    np.testing.assert_allclose(out.item(), want.item(), rtol=1e-6)
    np.testing.assert_allclose(ours.grad.numpy(), ref.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ours.sign().numpy(), torch.tensor(a).sign().numpy())
    assert gradcheck(lambda t: engine.where(t > 0, t * t, t).sum() + t.norm(), rng.standard_normal(6))


def test_new_tensors_keep_dtype_and_device():
    t = engine.ones(2, 3, dtype=engine.float64)
    assert t.new_zeros(4).dtype == np.float64 and t.new_ones((2, 2)).shape == (2, 2)
    assert t.new_full((1, 2), 7).tolist() == [[7.0, 7.0]] and t.new_tensor([1, 2]).dtype == np.float64
    assert t.is_floating_point() and not engine.arange(3).is_floating_point()
    assert engine.Tensor([1, 2]).dtype == np.float32   # torch.Tensor(list) is a float tensor


def test_one_hot_matches_torch():
    idx = [0, 3, 1, 3]
    np.testing.assert_array_equal(F.one_hot(engine.tensor(idx)).numpy(),
                                  torch.nn.functional.one_hot(torch.tensor(idx)).numpy())
    assert F.one_hot(engine.tensor(idx), 6).shape == (4, 6)
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        F.one_hot(engine.tensor(idx), 2)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
def test_clip_grad_norm_matches_torch(norm_type):
    rng = np.random.default_rng(2)
    ours, ref = nn.Linear(5, 3), torch.nn.Linear(5, 3)
    ours.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    x = rng.standard_normal((8, 5)).astype(np.float32)
    (ours(x) ** 2).sum().backward()
    (ref(torch.tensor(x)) ** 2).sum().backward()
    n1 = nn.utils.clip_grad_norm_(ours.parameters(), 0.5, norm_type)
    n2 = torch.nn.utils.clip_grad_norm_(ref.parameters(), 0.5, norm_type)
    np.testing.assert_allclose(n1.item(), n2.item(), rtol=1e-5)
    for p, q in zip(ours.parameters(), ref.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-7)
    nn.utils.clip_grad_value_(ours.parameters(), 0.01)
    assert all(float(p.grad.abs().max()) <= 0.01 for p in ours.parameters())


def test_del_sequential_item_renumbers_like_torch():
    m = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    del m[1]
    assert list(m.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"] and len(m) == 2
    assert m(np.zeros((1, 4), np.float32)).shape == (1, 2)
