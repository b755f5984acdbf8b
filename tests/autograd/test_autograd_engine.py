"""The backward engine and grad modes, idiom by idiom against PyTorch: order of the
backward pass, leaves and Parameters, per-call saved context (one module used twice),
no_grad / enable_grad / inference_mode / set_grad_enabled, requires_grad_, detach,
retain_graph, accumulation over backward calls, zero_grad, retain_grad, register_hook."""
import numpy as np
import pytest
from helpers.autograd_parity import OURS, assert_close, copy_weights, distinct, torch_ns

import engine
from engine import nn, optim


def _both():
    """numbacnn's namespace, then torch's (the test is skipped without torch)."""
    pytest.importorskip("torch")
    return OURS, torch_ns()


def _leaf(ns, a):
    return ns.torch.tensor(np.asarray(a, np.float32), requires_grad=True)


# --- the order of the pass, and what reaches the leaves -----------------------------------------
def test_nodes_run_after_all_their_consumers_and_hooks_see_the_sum(rng):
    """A diamond x -> h -> (p, q) -> loss and a chain after it: h's hook runs once, after
    both branches delivered, on their sum; hooks fire from the loss backwards."""
    a = distinct(rng, (3, 4))
    results = []
    for ns in _both():
        x = _leaf(ns, a)
        order, seen = [], {}
        h = x * 2
        p, q = h.exp(), h * h
        s = p + q
        for name, t in (("h", h), ("p", p), ("q", q), ("s", s)):
            t.register_hook(lambda g, name=name: (order.append(name), seen.setdefault(name, g.clone()))[0])
        s.sum().backward()
        results.append((order, seen, x.grad))
    (order, seen, grad), (_, t_seen, t_grad) = results
    assert order[0] == "s" and order[-1] == "h" and sorted(order[1:3]) == ["p", "q"], order
    assert order.count("h") == 1
    assert_close(seen["h"], t_seen["h"], what="h's gradient (sum of both branches)")
    assert_close(grad, t_grad, what="x.grad")


def test_leaf_used_twice_gets_the_sum_and_its_hook_runs_once(rng):
    for ns in _both():
        x = _leaf(ns, distinct(rng, (5,)))
        calls = []
        x.register_hook(lambda g: calls.append(g.clone()))
        (x * 3 + x * x).sum().backward()
        assert len(calls) == 1
        assert_close(calls[0], 3 + 2 * x.detach(), what="the hook's gradient")
        assert_close(x.grad, 3 + 2 * x.detach(), what="x.grad")


def test_parameter_is_a_leaf_and_op_outputs_are_not():
    for ns in _both():
        p = ns.nn.Parameter(ns.torch.ones(2, 3))
        assert p.is_leaf and p.requires_grad and p.grad_fn is None and p.grad is None
        y = p * 2
        assert not y.is_leaf and y.requires_grad and y.grad_fn is not None
        frozen = ns.nn.Parameter(ns.torch.ones(2), requires_grad=False)
        assert frozen.is_leaf and not frozen.requires_grad
        assert isinstance(p, ns.torch.Tensor)


def test_module_used_twice_saves_each_call_apart(rng):
    """Per-call saved context: one Conv2d (and one Linear) applied twice in a forward is
    differentiated through both calls, as torch does."""
    x = distinct(rng, (2, 3, 6, 6), spacing=0.01).astype(np.float32)
    ours = OURS.nn.ModuleDict({"conv": nn.Conv2d(3, 3, 3, padding=1), "lin": nn.Linear(4, 4)})
    grads = []
    for ns in _both():
        mods = ours if ns is OURS else copy_weights(ours, ns.nn.ModuleDict(
            {"conv": ns.nn.Conv2d(3, 3, 3, padding=1), "lin": ns.nn.Linear(4, 4)}))
        conv, lin = mods["conv"], mods["lin"]
        xt = _leaf(ns, x)
        h = ns.F.relu(conv(ns.F.relu(conv(xt))))
        h = ns.F.adaptive_avg_pool2d(h, 2).flatten(1)          # (2, 12) -> rows of 4
        out = lin(ns.F.tanh(lin(h.reshape(-1, 4))))
        (out * out).sum().backward()
        grads.append([xt.grad, conv.weight.grad, conv.bias.grad, lin.weight.grad, lin.bias.grad])
    for what, ours, ref in zip(["x", "conv.weight", "conv.bias", "lin.weight", "lin.bias"], *grads):
        assert_close(ours, ref, rtol=1e-4, what=what)


# --- grad modes ---------------------------------------------------------------------------------------
def test_no_grad_records_nothing_and_enable_grad_inside_records():
    for ns in _both():
        x = _leaf(ns, [1.0, 2.0])
        with ns.torch.no_grad():
            y = x * 2
            assert not ns.torch.is_grad_enabled()
            with ns.torch.enable_grad():
                z = x * 2
        assert not y.requires_grad and y.grad_fn is None
        assert z.requires_grad and z.grad_fn is not None
        assert ns.torch.is_grad_enabled()
        with pytest.raises(RuntimeError, match="does not require grad"):
            y.sum().backward()


def test_inference_mode_records_nothing():
    for ns in _both():
        x = _leaf(ns, [1.0, 2.0])
        with ns.torch.inference_mode():
            y = x * 2
        assert not y.requires_grad and y.grad_fn is None
        with ns.torch.inference_mode(False):
            assert (x * 2).requires_grad


def test_set_grad_enabled_as_context_function_and_decorator():
    for ns in _both():
        x = _leaf(ns, [1.0, 2.0])
        for train in (True, False):
            with ns.torch.set_grad_enabled(train):
                assert (x * 2).requires_grad == train
        assert ns.torch.is_grad_enabled()
        ns.torch.set_grad_enabled(False)          # called on its own line: acts at once
        try:
            assert not ns.torch.is_grad_enabled() and not (x * 2).requires_grad
        finally:
            ns.torch.set_grad_enabled(True)
        assert (x * 2).requires_grad

        @ns.torch.no_grad()
        def evaluate():
            return x * 2

        @ns.torch.set_grad_enabled(False)
        def evaluate2():
            return x * 2
        assert ns.torch.is_grad_enabled()
        assert not evaluate().requires_grad and not evaluate2().requires_grad
        assert ns.torch.is_grad_enabled()


def test_requires_grad_on_an_input_gives_its_gradient(rng):
    a = distinct(rng, (2, 3))
    grads = []
    for ns in _both():
        x = ns.torch.tensor(a.astype(np.float32))
        assert not x.requires_grad
        assert x.requires_grad_() is x and x.requires_grad and x.is_leaf
        (x.exp() * x).sum().backward()
        grads.append(x.grad)
    assert_close(*grads, what="input gradient")


def test_detach_cuts_the_graph(rng):
    a = distinct(rng, (4,))
    grads = []
    for ns in _both():
        x = _leaf(ns, a)
        d = (x * x).detach()
        assert not d.requires_grad and d.grad_fn is None
        (x * d).sum().backward()              # d is a constant: grad = d, not 3 x^2
        grads.append(x.grad)
    assert_close(*grads, what="x.grad through a detached factor")
    assert_close(grads[0], a.astype(np.float32) ** 2, what="x.grad == x^2")


def test_detach_shares_memory():
    x = engine.ones(3, requires_grad=True)
    d = x.detach()
    with engine.no_grad():
        d.add_(1)
    np.testing.assert_array_equal(x.numpy(), [2, 2, 2])


# --- retain_graph, accumulation, zero_grad ----------------------------------------------------------------
def test_second_backward_needs_retain_graph(rng):
    x = engine.tensor(distinct(rng, (3,)).astype(np.float32), requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_lets_backward_run_twice_and_accumulate(rng):
    a = distinct(rng, (3,))
    grads = []
    for ns in _both():
        x = _leaf(ns, a)
        y = (x.exp() * x).sum()
        y.backward(retain_graph=True)
        once = x.grad.clone()
        y.backward()
        grads.append((once, x.grad))
    (once, twice), (t_once, t_twice) = grads
    assert_close(once, t_once, what="first backward")
    assert_close(twice, t_twice, what="after the second")
    assert_close(twice, 2 * once.numpy(), what="accumulated")


def test_gradients_accumulate_over_backward_calls_until_zeroed(rng):
    x1, x2 = distinct(rng, (4, 3)).astype(np.float32), distinct(rng, (2, 3)).astype(np.float32)
    ours = nn.Linear(3, 2)
    grads = []
    for ns in _both():
        lin = ours if ns is OURS else copy_weights(ours, ns.nn.Linear(3, 2))
        ns.F.mse_loss(lin(ns.torch.tensor(x1)), ns.torch.zeros(4, 2)).backward()
        first = lin.weight.grad.clone()
        lin(ns.torch.tensor(x2)).sum().backward()
        grads.append((first, lin.weight.grad.clone(), lin.bias.grad.clone()))
        lin.zero_grad()
        assert lin.weight.grad is None and lin.bias.grad is None
    for what, ours, ref in zip(["after one", "after two (weight)", "after two (bias)"], *grads):
        assert_close(ours, ref, what=what)


@pytest.mark.parametrize("owner", ["module", "optimizer"])
def test_zero_grad_set_to_none_or_zeros(owner):
    lin = nn.Linear(3, 2)
    opt = optim.SGD(lin.parameters(), lr=0.1, momentum=0.9)
    clear = lin.zero_grad if owner == "module" else opt.zero_grad
    lin(engine.ones(2, 3)).sum().backward()
    clear(set_to_none=False)
    for p in lin.parameters():
        assert p.grad is not None and not p.grad.numpy().any()
    lin(engine.ones(2, 3)).sum().backward()
    clear(set_to_none=True)
    assert all(p.grad is None for p in lin.parameters())
    lin(engine.ones(2, 3)).sum().backward()
    clear()                                 # torch's default: set_to_none=True
    assert all(p.grad is None for p in lin.parameters())
    before = lin.weight.numpy().copy()
    opt.step()                              # nothing to do without gradients
    np.testing.assert_array_equal(lin.weight.numpy(), before)
    lin(engine.ones(2, 3)).sum().backward()
    np.testing.assert_allclose(lin.bias.grad.numpy(), [2.0, 2.0])  # a fresh sum, nothing left over


# --- retain_grad and hooks ---------------------------------------------------------------------------------
def test_retain_grad_keeps_a_non_leaf_gradient(rng):
    a = distinct(rng, (2, 3))
    grads = []
    for ns in _both():
        x = _leaf(ns, a)
        h = x.exp()
        h.retain_grad()
        k = h * 3
        (k * k).sum().backward()
        if ns is OURS:
            assert k.grad is None               # not retained (torch warns and gives None too)
        grads.append((h.grad, x.grad))
    assert_close(grads[0][0], grads[1][0], what="h.grad")
    assert_close(grads[0][1], grads[1][1], what="x.grad")


def test_register_hook_replaces_gradient_and_handle_removes_it(rng):
    a = distinct(rng, (3,))
    results = []
    for ns in _both():
        x = _leaf(ns, a)
        h = x * x
        handle = h.register_hook(lambda g: g * 10)
        leaf_handle = x.register_hook(lambda g: g + 1)
        h.sum().backward()
        first = x.grad.clone()
        handle.remove()
        leaf_handle.remove()
        x.grad = None
        (x * x).sum().backward()
        results.append((first, x.grad))
    assert_close(results[0][0], results[1][0], what="hooked gradient")
    assert_close(results[0][0], 20 * a.astype(np.float32) + 1, what="10 * 2x + 1")
    assert_close(results[0][1], results[1][1], what="after remove()")


def test_hook_on_a_tensor_without_grad_is_refused():
    with pytest.raises(RuntimeError, match="doesn't require"):
        engine.ones(2).register_hook(lambda g: g)
