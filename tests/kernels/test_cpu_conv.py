"""CPU convolution kernels: the im2col + GEMM kernel (whole batch and in blocks of
samples), the direct kernel and the numpy reference (helpers.kernel_reference) agree, in float32
and float64, on odd shapes, strides, paddings and 1x1 kernels. (Both kernel sets on small
shapes: test_conv.py.)"""
import numpy as np
import pytest
from helpers.kernel_reference import conv_backward as ref_backward
from helpers.kernel_reference import conv_forward as ref_forward

from engine.kernels.cpu import conv, conv_direct
from engine.kernels.cpu.parallel import gemm


# (N, C, H, W, O, kh, kw, stride, padding)
SHAPES = [
    (3, 1, 12, 12, 6, 5, 5, (1, 1), (0, 0)),     # mnist-like
    (2, 3, 9, 11, 4, 3, 3, (2, 2), (1, 1)),     # stride 2, padding, non-square
    (2, 5, 8, 7, 7, 1, 1, (1, 1), (0, 0)),      # 1x1
    (2, 4, 9, 9, 3, 1, 1, (2, 2), (0, 0)),      # 1x1 stride 2 (ResNet projection)
    (2, 6, 10, 8, 5, 3, 2, (1, 2), (2, 1)),     # rectangular kernel, mixed stride/padding
    (3, 20, 7, 6, 24, 3, 3, (1, 1), (1, 1)),    # many channels
    (2, 3, 6, 6, 4, 5, 5, (3, 3), (2, 2)),      # padding wider than some windows
    (2, 3, 7, 9, 5, 3, 3, (1, 1), (1, 1)),      # 3x3 same, odd sizes
    (1, 2, 1, 2, 3, 3, 3, (1, 1), (1, 1)),      # 3x3 same on a 1x2 map
    (2, 4, 16, 16, 64, 3, 3, (1, 1), (1, 1)),   # 16x16 planes: 6-row forward tiles although O % 4 == 0
    (2, 3, 5, 37, 4, 3, 3, (2, 2), (1, 1)),     # stride 2 on rows of whole vectors and a tail (even/odd split)
    (2, 2, 6, 34, 3, 5, 5, (2, 2), (2, 2)),     # stride 2, even padding: even columns to phase 0
    (2, 3, 5, 33, 4, 1, 1, (2, 2), (0, 0)),     # 1x1 stride 2 on long rows
]


def _data(shape, dtype, seed=0):
    N, C, H, W, O, kh, kw, stride, padding = shape
    r = np.random.default_rng(seed)
    x = r.standard_normal((N, C, H, W)).astype(dtype)
    w = r.standard_normal((O, C, kh, kw)).astype(dtype)
    b = r.standard_normal(O).astype(dtype)
    Ho, Wo = conv.conv_output_size(H, kh, stride[0], padding[0]), conv.conv_output_size(W, kw, stride[1], padding[1])
    g = r.standard_normal((N, O, Ho, Wo)).astype(dtype)
    return x, w, b, g, stride, padding


def _tol(dtype):
    return dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)


@pytest.fixture(params=["gemm", "gemm-blocks", "direct"])
def path(request, monkeypatch):
    """Forces one implementation: im2col+GEMM on the whole batch, im2col+GEMM one
    sample per block (tiny workspace), or the direct kernel wherever it allows
    (stride 1, padding < kernel; im2col elsewhere)."""
    monkeypatch.setattr(conv, "_use_direct", lambda *a: False)
    monkeypatch.setattr(conv, "_use_winograd", lambda *a: False)
    monkeypatch.setattr(conv, "_use_pointwise", lambda *a: False)
    monkeypatch.setattr(conv, "_use_smallmap", lambda *a: False)
    if request.param == "direct":
        monkeypatch.setattr(conv_direct, "MAX_TAPS", 10**9)
        monkeypatch.setattr(conv, "_use_direct", conv_direct.suitable)
    if request.param == "gemm-blocks":
        monkeypatch.setattr(conv, "WORKSPACE_BYTES", 1)
    return request.param


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_backward_match_reference(shape, dtype, path):
    x, w, b, g, stride, padding = _data(shape, dtype)
    y = conv.conv2d_forward(x, w, b, stride, padding)
    assert y.dtype == dtype and y.flags.c_contiguous
    np.testing.assert_allclose(y, ref_forward(x, w, b, stride, padding), **_tol(dtype))
    dx, dw, db = conv.conv2d_backward(x, w, g, stride, padding)
    rdx, rdw, rdb = ref_backward(x, w, g, stride, padding)
    np.testing.assert_allclose(dx, rdx, **_tol(dtype))
    np.testing.assert_allclose(dw, rdw, **_tol(dtype))
    np.testing.assert_allclose(db, rdb, **_tol(dtype))
    assert dw.shape == w.shape and dx.shape == x.shape
    dx2, dw2, db2 = conv.conv2d_backward(x, w, g, stride, padding, need_input_grad=False)
    assert dx2 is None
    np.testing.assert_allclose(dw2, dw, **_tol(dtype))
    np.testing.assert_allclose(db2, db, **_tol(dtype))


@pytest.mark.parametrize("shape", [SHAPES[0], SHAPES[1], SHAPES[5]])
def test_relu_epilogue(shape, path):
    x, w, b, _, stride, padding = _data(shape, np.float32, seed=5)
    y = conv.conv2d_forward(x, w, b, stride, padding, relu=True)
    ref = np.maximum(ref_forward(x, w, b, stride, padding), 0)
    assert (ref == 0).any() and (ref > 0).any()
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)
    assert (y >= 0).all()


def _nan_at_one_input(x):
    x = x.copy()
    x[0, 0, x.shape[2] // 2, x.shape[3] // 2] = np.nan
    return x


@pytest.mark.parametrize("shape", [SHAPES[0], SHAPES[5], (2, 3, 13, 13, 6, 5, 5, (1, 1), (0, 0))])  # 9 wide: a tail
def test_a_nan_stays_nan_through_the_relu_epilogue(shape, path):
    # torch's relu keeps NaN: a fused ReLU that made it 0 would hide a diverged run from the
    # trainer's NaN guard (the direct kernel's vector max did, before)
    x, w, b, _, stride, padding = _data(shape, np.float32, seed=5)
    x = _nan_at_one_input(x)
    plain = conv.conv2d_forward(x, w, b, stride, padding)
    fused = conv.conv2d_forward(x, w, b, stride, padding, relu=True)
    assert np.isnan(plain).any()
    np.testing.assert_array_equal(np.isnan(fused), np.isnan(plain))


@pytest.mark.parametrize("shape,chosen", [
    ((2, 64, 8, 8, 64, 3, 3, (1, 1), (1, 1)), "_use_winograd"),
    ((2, 96, 6, 6, 96, 1, 1, (1, 1), (0, 0)), "_use_pointwise"),
    ((2, 512, 2, 2, 512, 3, 3, (1, 1), (1, 1)), "_use_smallmap")])
def test_a_nan_stays_nan_through_the_other_paths_relu(shape, chosen):
    N, C, H, W, O, kh, kw, (sh, sw), (ph, pw) = shape
    Ho, Wo = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    args = {"_use_winograd": (C, O, kh, kw, sh, sw, ph, pw, Ho, Wo), "_use_pointwise": (C, O, kh, kw, sh, sw, ph, pw),
            "_use_smallmap": (H, W, kh, kw, sh, sw, ph, pw, Ho, Wo)}[chosen]
    assert getattr(conv, chosen)(*args)
    x, w, b, _, stride, padding = _data(shape, np.float32, seed=5)
    x = _nan_at_one_input(x)
    plain = conv.conv2d_forward(x, w, b, stride, padding)
    assert np.isnan(plain).any()
    np.testing.assert_array_equal(np.isnan(conv.conv2d_forward(x, w, b, stride, padding, relu=True)), np.isnan(plain))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [SHAPES[0], SHAPES[1], SHAPES[5], SHAPES[7], SHAPES[9]])
def test_relu_maxpool_epilogue(shape, dtype, path):
    # one pass = conv with the ReLU, then maxpool2d_forward(2, 2, 0): the same outputs,
    # and the same winners wherever the window's max is positive (at 0 all tie)
    from engine.kernels.cpu import pool
    x, w, b, _, stride, padding = _data(shape, dtype, seed=6)
    y, idx = conv.conv2d_relu_maxpool2x2(x, w, b, stride, padding)
    ref_y, ref_idx = pool.maxpool2d_forward(conv.conv2d_forward(x, w, b, stride, padding, relu=True),
                                            (2, 2), (2, 2), (0, 0))
    assert y.dtype == dtype and idx.dtype == np.int32 and y.shape == idx.shape == ref_y.shape
    assert (ref_y == 0).any() and (ref_y > 0).any()
    np.testing.assert_array_equal(y, ref_y)
    np.testing.assert_array_equal(np.where(y > 0, idx, 0), np.where(ref_y > 0, ref_idx, 0))


@pytest.mark.parametrize("shape", [(5, 3, 9, 8, 6, 3, 3, (1, 1), (1, 1)), (5, 4, 9, 9, 8, 3, 3, (2, 2), (1, 1))])
def test_direct_weight_gradient_in_chunks(shape, monkeypatch):
    # one sample per chunk (the default packs many small samples into one)
    monkeypatch.setattr(conv_direct, "CHUNK_ELEMENTS", 1)
    x, w, _, g, stride, padding = _data(shape, np.float64, seed=7)
    dw, db = np.empty(w.shape), np.empty(w.shape[0])
    conv_direct.backward_weight(x, g, stride, padding, dw, db)
    _, rdw, rdb = ref_backward(x, w, g, stride, padding)
    np.testing.assert_allclose(dw, rdw, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(db, rdb, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [s for s in SHAPES if s[7] != (1, 1) and s[8][0] < s[5] and s[8][1] < s[6]]
                         + [(2, 3, 8, 20, 4, 3, 3, (2, 2), (1, 1)),   # every place covered: no zero fill
                            (2, 2, 9, 19, 3, 2, 2, (3, 3), (1, 1)),   # kernel smaller than the stride
                            (2, 6, 9, 40, 5, 3, 3, (2, 1), (1, 1)),   # rows of stride 2, columns of 1; C padded to 8
                            (2, 5, 7, 41, 2, 3, 3, (2, 2), (0, 1)),   # the zipped rows of odd padding
                            (2, 3, 6, 40, 4, 4, 4, (2, 2), (2, 2))])  # even kernel and padding
def test_direct_strided_input_gradient_writes_every_place(shape, dtype):
    # into a buffer of NaN: the stride phases' outputs and the zero fill (where some
    # places have no window) must leave none of it
    x, w, _, g, stride, padding = _data(shape, dtype, seed=11)
    dx = conv_direct.backward_input(g, w, stride, padding, np.full(x.shape, np.nan, dtype))
    np.testing.assert_allclose(dx, ref_backward(x, w, g, stride, padding)[0], **_tol(dtype))


def test_empty_batch(path):
    x, w, b, g, stride, padding = _data(SHAPES[5], np.float32)
    y = conv.conv2d_forward(x[:0], w, b, stride, padding)
    dx, dw, db = conv.conv2d_backward(x[:0], w, g[:0], stride, padding)
    assert y.shape == (0,) + g.shape[1:] and dx.shape == (0,) + x.shape[1:]
    assert not dw.any() and not db.any() and dw.shape == w.shape


def test_no_bias_and_noncontiguous_input(path):
    x, w, _, g, stride, padding = _data(SHAPES[1], np.float32, seed=3)
    xf = np.asfortranarray(x)
    y = conv.conv2d_forward(xf, w, None, stride, padding)
    np.testing.assert_allclose(y, ref_forward(x, w, None, stride, padding), rtol=1e-4, atol=1e-4)
    dx, dw, db = conv.conv2d_backward(xf, w, np.asfortranarray(g), stride, padding)
    rdx, rdw, _ = ref_backward(x, w, g, stride, padding)
    np.testing.assert_allclose(dx, rdx, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dw, rdw, rtol=1e-4, atol=1e-4)


def test_direct_choice():
    assert conv_direct.suitable(1, 6, 5, 5, 1, 1, 0, 0)            # mnist_cnn's first conv
    assert conv_direct.suitable(3, 16, 3, 3, 1, 1, 1, 1)           # resnet20's first conv
    assert conv_direct.suitable(128, 128, 3, 3, 1, 1, 1, 1)        # VGG's 128-channel layers
    assert not conv_direct.suitable(256, 256, 3, 3, 1, 1, 1, 1)    # BLAS wins from 256 channels
    assert not conv_direct.suitable(128, 256, 3, 3, 1, 1, 1, 1)    # ... in or out
    assert conv_direct.suitable(16, 32, 3, 3, 2, 2, 1, 1)          # resnet20's downsampling
    assert conv_direct._tile_rows(64, 16 * 17, 8) == 6 and conv_direct._tile_rows(16, 32 * 33, 8) == 4
    assert conv_direct._phases(16, 32, 32, 3, 3, (1, 1), (1, 1))[:2] == (34, 33)  # rows share their padding
    assert not conv_direct.suitable(3, 6, 1, 1, 1, 1, 1, 1)        # padding as wide as the kernel


def test_gemm_path_from_concurrent_threads(monkeypatch):
    # the GUI, loaders and trainer call kernels from threads of their own: each thread's
    # im2col workspaces are its own, so concurrent calls give the serial results
    import threading
    monkeypatch.setattr(conv, "_use_direct", lambda *a: False)
    monkeypatch.setattr(conv, "WORKSPACE_BYTES", 4096)  # several blocks per call
    cases = [_data(shape, np.float32, seed=s) for s, shape in enumerate([SHAPES[0], SHAPES[5], SHAPES[7]])]
    want = [(conv.conv2d_forward(x, w, b, st, pd),) + conv.conv2d_backward(x, w, g, st, pd)
            for x, w, b, g, st, pd in cases]
    got, errors = {}, []

    def run(i):
        try:
            for _ in range(5):
                x, w, b, g, st, pd = cases[i]
                got[i] = (conv.conv2d_forward(x, w, b, st, pd),) + conv.conv2d_backward(x, w, g, st, pd)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(cases))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for i, ref in enumerate(want):
        for a, r in zip(got[i], ref):
            np.testing.assert_array_equal(a, r)


@pytest.mark.parametrize("m,k,n", [(3, 5, 7), (64, 200, 3000), (3000, 50, 16), (16, 5000, 40)])
def test_gemm_splits_agree_with_numpy(m, k, n):
    r = np.random.default_rng(1)
    a = r.standard_normal((m, k)).astype(np.float32)
    b = r.standard_normal((n, k)).astype(np.float32).T   # transposed view, as the conv uses
    np.testing.assert_allclose(gemm(a, b), a @ b, rtol=1e-4, atol=1e-3)
    out = np.empty((m, n), np.float32)
    assert gemm(a, b, out=out) is out
    np.testing.assert_allclose(out, a @ b, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("shape", [SHAPES[0], SHAPES[1], SHAPES[3], SHAPES[4], SHAPES[5]])
def test_matches_torch(shape):
    torch = pytest.importorskip("torch")
    x, w, b, g, stride, padding = _data(shape, np.float32, seed=5)
    tx = torch.from_numpy(x).requires_grad_(True)
    tw = torch.from_numpy(w).requires_grad_(True)
    tb = torch.from_numpy(b).requires_grad_(True)
    ty = torch.nn.functional.conv2d(tx, tw, tb, stride, padding)
    ty.backward(torch.from_numpy(g))
    y = conv.conv2d_forward(x, w, b, stride, padding)
    dx, dw, db = conv.conv2d_backward(x, w, g, stride, padding)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dw, tw.grad.numpy(), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(db, tb.grad.numpy(), rtol=1e-4, atol=1e-3)
