"""Optimizer update kernels of every kernel set (the ``ops`` fixture): two SGD and three
Adam/AdamW steps in place equal torch.optim's formulas in float64 numpy."""
import numpy as np
import pytest
from helpers import kernel_reference as ref
from helpers.cuda import big

N = big(37, 100003)      # lengths no vector width divides; the larger on a GPU, not the simulator


def _arrays(seed, k):
    r = np.random.default_rng(seed)
    return [r.standard_normal(N).astype(np.float32) for _ in range(k)]


@pytest.mark.parametrize("kw", [
    dict(momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0),
    dict(momentum=0.9, dampening=0.1, nesterov=False, weight_decay=1e-2),
    dict(momentum=0.9, dampening=0.0, nesterov=True, weight_decay=5e-4),
])
def test_sgd_step(ops, kw):
    p, g, buf = _arrays(0, 3)
    dp, dbuf = ops.asarray(p.copy()), ops.asarray(buf.copy())
    want_p, want_buf = p.astype(np.float64), buf.astype(np.float64)
    for first in (True, False):
        ops.sgd_step(dp, ops.asarray(g), dbuf, 0.05, first=first, **kw)
        want_p, want_buf = ref.sgd_step(want_p, g, want_buf, 0.05, first=first, **kw)
    np.testing.assert_allclose(ops.to_host(dp), want_p, rtol=1e-5, atol=1e-6)
    if kw["momentum"]:
        np.testing.assert_allclose(ops.to_host(dbuf), want_buf, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("decoupled,wd", [(False, 0.0), (False, 1e-2), (True, 1e-2)])
def test_adam_step(ops, decoupled, wd):
    p, g = _arrays(1, 2)
    m, v = np.zeros(N, np.float32), np.zeros(N, np.float32)
    dp, dm, dv = ops.asarray(p.copy()), ops.asarray(m), ops.asarray(v)
    want = (p.astype(np.float64), m.astype(np.float64), v.astype(np.float64))
    for step in (1, 2, 3):
        ops.adam_step(dp, ops.asarray(g), dm, dv, 1e-2, (0.9, 0.999), 1e-8, wd, decoupled, step)
        want = ref.adam_step(*want[:1], g, *want[1:], 1e-2, (0.9, 0.999), 1e-8, wd, decoupled, step)
    for got, r, what in zip((dp, dm, dv), want, ("p", "m", "v")):
        np.testing.assert_allclose(ops.to_host(got), r, rtol=1e-5, atol=1e-7, err_msg=what)
