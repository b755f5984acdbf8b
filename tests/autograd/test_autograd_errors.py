"""Mistakes get one sentence that says what is wrong and what to use instead: numpy's
names on a Tensor, wrong gradients to backward(), wrong shapes and dtypes given to a
layer inside a custom module (the layer is named), dims out of range, shapes that do
not broadcast, impossible views, in-place updates of leaves while recording."""
import numpy as np
import pytest

import engine
from engine import nn
from engine.errors import ShapeError
from engine.nn import functional as F


def _one_sentence(info):
    text = str(info.value)
    assert text and "\n" not in text, f"not one line: {text!r}"
    return text


# --- numpy's names -------------------------------------------------------------------------------
@pytest.mark.parametrize("name, advice", [("astype", ".to(dtype)"), ("copy", ".clone()"), ("ravel", ".flatten()"),
                                          ("swapaxes", ".transpose("), ("fill", ".fill_("), ("tobytes", ".numpy()")])
def test_numpy_names_say_what_torch_calls_them(name, advice):
    t = engine.zeros(2, 3)
    with pytest.raises(AttributeError) as info:
        getattr(t, name)
    text = _one_sentence(info)
    assert name in text and "torch" in text and advice in text
    assert not hasattr(t, name)


def test_unknown_attribute_is_a_plain_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'no_such_thing'$"):
        engine.zeros(2).no_such_thing  # noqa: B018
    assert getattr(engine.zeros(2), "no_such_thing", 5) == 5


def test_the_fallback_does_not_touch_normal_attribute_access():
    """``__getattr__`` runs only for missing names: Tensor keeps object's
    ``__getattribute__``, so attributes and methods cost what they did."""
    assert "__getattribute__" not in engine.Tensor.__dict__
    assert "__getattr__" in engine.Tensor.__dict__
    t = engine.ones(2)
    assert t.shape == (2,) and t.clone().sum().item() == 2.0


# --- backward() -------------------------------------------------------------------------------------
def test_backward_gradient_of_the_wrong_shape():
    y = engine.ones(3, requires_grad=True) * 2
    with pytest.raises(RuntimeError) as info:
        y.backward(engine.ones(4))
    assert "(4,)" in _one_sentence(info) and "(3,)" in str(info.value)


def test_backward_gradient_of_the_wrong_dtype():
    y = engine.ones(3, requires_grad=True) * 2
    with pytest.raises(RuntimeError) as info:
        y.backward(engine.ones(3, dtype=engine.int64))
    assert "int64" in _one_sentence(info)


def test_backward_without_a_gradient_needs_one_element():
    y = engine.ones(3, requires_grad=True) * 2
    with pytest.raises(RuntimeError) as info:
        y.backward()
    assert "backward(gradient)" in _one_sentence(info)


def test_backward_of_something_that_records_nothing():
    with pytest.raises(RuntimeError) as info:
        engine.ones(3).sum().backward()
    assert "does not require grad" in _one_sentence(info)


def test_second_backward_names_retain_graph():
    y = (engine.ones(3, requires_grad=True).exp()).sum()
    y.backward()
    with pytest.raises(RuntimeError) as info:
        y.backward()
    assert "retain_graph=True" in _one_sentence(info)


def test_higher_order_gradients_are_refused_with_a_message():
    y = (engine.ones(3, requires_grad=True) * 2).sum()
    with pytest.raises(NotImplementedError) as info:
        y.backward(create_graph=True)
    assert "create_graph" in _one_sentence(info)


def test_inplace_on_a_leaf_while_recording_says_no_grad():
    w = engine.ones(3, requires_grad=True)
    for update in (lambda: w.__isub__(1), lambda: w.add_(1), lambda: w.zero_(), lambda: w.__setitem__(0, 1.0)):
        with pytest.raises(RuntimeError) as info:
            update()
        assert "no_grad" in _one_sentence(info)


def test_only_floating_tensors_require_grad():
    with pytest.raises(RuntimeError) as info:
        engine.tensor([1, 2]).requires_grad_()
    assert "int64" in _one_sentence(info)


# --- a layer inside a custom module is named ---------------------------------------------------------------
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.conv1 = nn.Conv2d(4, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 4 * 4, 10)

    def forward(self, x):
        x = self.features(x)
        x = F.relu(self.bn1(self.conv1(x)))
        return self.fc(x.view(x.size(0), -1))


@pytest.mark.parametrize("shape, layer, detail", [
    ((2, 1, 8, 8), "features.0", "Conv2d got input of shape (1, 8, 8)"),
    ((2, 3, 10, 10), "fc", "Linear got input of shape (100,)"),
    ((2, 3, 8), "features.0", "Conv2d got input of shape (3, 8)"),
])
def test_wrong_input_shape_names_the_layer(shape, layer, detail):
    with pytest.raises(ShapeError) as info:
        Net()(engine.zeros(*shape))
    text = _one_sentence(info)
    assert text.startswith(f"layer '{layer}': ") and detail in text


@pytest.mark.parametrize("dtype", [engine.float64, engine.int64])
def test_wrong_input_dtype_names_the_first_layer(dtype):
    with pytest.raises(ShapeError) as info:
        Net()(engine.zeros(2, 3, 8, 8, dtype=dtype))
    text = _one_sentence(info)
    assert text.startswith("layer 'features.0': ") and str(np.dtype(dtype)) in text and ".float()" in text


def test_functional_call_in_a_submodule_is_named():
    class Inner(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(engine.ones(2, 5, 3, 3))

        def forward(self, x):
            return F.conv2d(x, self.weight)

    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = Inner()

        def forward(self, x):
            return self.inner(x) * 2

    with pytest.raises(ShapeError) as info:
        Outer()(engine.zeros(1, 4, 6, 6))
    assert _one_sentence(info).startswith("layer 'inner': conv2d got input of shape (1, 4, 6, 6)")
    with pytest.raises(ShapeError) as info:
        Outer()(engine.zeros(1, 5, 2, 2))
    assert "does not fit an input of 2x2" in _one_sentence(info)


def test_batch_norm_statistics_of_another_size():
    with pytest.raises(ShapeError) as info:
        F.batch_norm(engine.zeros(2, 3, 4, 4), engine.zeros(4), engine.ones(4), training=False)
    assert "running_mean" in _one_sentence(info)


# --- tensor operations -----------------------------------------------------------------------------------
OPERATIONS = [
    (IndexError, "dim=5", lambda t: t.sum(5)),
    (IndexError, "dim=-3", lambda t: t.mean(-3)),
    (IndexError, "dim=2", lambda t: t.max(2)),
    (IndexError, "dim=2", lambda t: t.squeeze(2)),
    (IndexError, "new axis", lambda t: t.unsqueeze(4)),
    (IndexError, "dim1=2", lambda t: t.transpose(0, 2)),
    (IndexError, "start_dim=3", lambda t: t.flatten(3)),
    (IndexError, "dim=2", lambda t: F.softmax(t, 2)),
    (IndexError, "dim=2", lambda t: engine.cat([t, t], 2)),
    (IndexError, "new axis", lambda t: engine.stack([t, t], 4)),
    (IndexError, "dim=2", lambda t: t.size(2)),
    (ValueError, "permute", lambda t: t.permute(0, 0)),
    (ValueError, "permute", lambda t: t.permute(1)),
    (ShapeError, "cannot be broadcast", lambda t: t + engine.ones(4)),
    (ShapeError, "cannot be broadcast", lambda t: t * engine.ones(2, 1, 5)),
    (ShapeError, "matmul got shapes (2, 3) and (2, 3)", lambda t: t @ t),
    (ShapeError, "cat along dim 0", lambda t: engine.cat([t, engine.ones(2, 4)])),
    (ShapeError, "stack needs tensors of one shape", lambda t: engine.stack([t, engine.ones(3, 2)])),
    (ShapeError, "expand of a tensor of shape (2, 3)", lambda t: t.expand(4, 3)),
    (ShapeError, "(2, 3) (6 elements) as (-1, 4)", lambda t: t.view(-1, 4)),
    (ShapeError, "as (5,)", lambda t: t.reshape(5)),
    (RuntimeError, ".contiguous()", lambda t: t.t().view(-1)),
    (TypeError, "numbers or booleans", lambda t: engine.tensor(["a", "b"])),
    (ValueError, "rectangular", lambda t: engine.tensor([[1, 2], [3]])),
    (ValueError, "cannot be converted to a Python number", lambda t: t.item()),
    (TypeError, "engine.zeros(2, 3)", lambda t: engine.Tensor(2, 3)),
]


@pytest.mark.parametrize("error, words, op", OPERATIONS, ids=[f"{i}-{w}" for i, (_, w, _) in enumerate(OPERATIONS)])
def test_operation_errors_say_what_is_wrong(error, words, op):
    with pytest.raises(error) as info:
        op(engine.ones(2, 3, requires_grad=True))
    assert words in _one_sentence(info)


def test_losses_check_their_targets():
    z = engine.zeros(3, 4)
    cases = [(lambda: F.cross_entropy(z, engine.tensor([0, 1])), "(3,) integer class indices"),
             (lambda: F.cross_entropy(z, engine.tensor([0, 1, 4])), "[0, 4)"),
             (lambda: F.cross_entropy(z, engine.tensor([0.0, 1.0, 2.0])), "integer class indices"),
             (lambda: F.nll_loss(z, engine.tensor([-1, 0, 0])), "[0, 4)"),
             (lambda: F.mse_loss(z, engine.zeros(4, 3)), "one shape")]
    for call, words in cases:
        with pytest.raises(ValueError) as info:
            call()
        assert words in _one_sentence(info)
