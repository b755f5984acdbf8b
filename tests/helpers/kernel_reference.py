"""Plain numpy references of the kernels, by their definitions, in float64 (loops over
window offsets, never over pixels where a slice will do). Shapes are NCHW; ``stride`` and
``padding`` are (h, w) pairs; pooling winners are flat indices into each (H, W) plane."""
import numpy as np


def _windows(shape, k, stride, padding):
    """(Ho, Wo) of a k = (kh, kw) window over (H, W) maps."""
    (kh, kw), (sh, sw), (ph, pw) = k, stride, padding
    return (shape[-2] + 2 * ph - kh) // sh + 1, (shape[-1] + 2 * pw - kw) // sw + 1


def _taps(k, stride, out):
    """For each window offset (i, j): the (h, w) slices of the padded map it reads."""
    (kh, kw), (sh, sw), (ho, wo) = k, stride, out
    for i in range(kh):
        for j in range(kw):
            yield i, j, (slice(i, i + sh * (ho - 1) + 1, sh), slice(j, j + sw * (wo - 1) + 1, sw))


def _pad(x, padding, value=0.0):
    (ph, pw) = padding
    return np.pad(x.astype(np.float64), ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def conv_forward(x, w, b, stride, padding):
    """y (N, O, Ho, Wo) of x (N, C, H, W) convolved with w (O, C, kh, kw), plus b (O,) or None."""
    out = _windows(x.shape, w.shape[2:], stride, padding)
    xp = _pad(x, padding)
    y = np.zeros((x.shape[0], w.shape[0]) + out)
    for i, j, (rows, cols) in _taps(w.shape[2:], stride, out):
        y += np.einsum("nchw,oc->nohw", xp[:, :, rows, cols], w[:, :, i, j].astype(np.float64))
    return y + (0 if b is None else b.astype(np.float64)[None, :, None, None])


def conv_backward(x, w, g, stride, padding):
    """(dx, dw, db) of the convolution for the output gradient g (N, O, Ho, Wo)."""
    H, W = x.shape[2:]
    ph, pw = padding
    xp = _pad(x, padding)
    dxp, dw, g = np.zeros_like(xp), np.zeros(w.shape), g.astype(np.float64)
    for i, j, (rows, cols) in _taps(w.shape[2:], stride, g.shape[2:]):
        dw[:, :, i, j] = np.einsum("nohw,nchw->oc", g, xp[:, :, rows, cols])
        dxp[:, :, rows, cols] += np.einsum("nohw,oc->nchw", g, w[:, :, i, j].astype(np.float64))
    return dxp[:, :, ph:ph + H, pw:pw + W], dw, g.sum(axis=(0, 2, 3))


def maxpool_forward(x, k, stride, padding):
    """(y, winners) of max pooling: each window's cells inside the plane scanned in row-major
    order, the first strict maximum winning; winners int32 flat indices into (H, W)."""
    H, W = x.shape[2:]
    out = _windows(x.shape, k, stride, padding)
    xp = _pad(x, padding, -np.inf)
    rows, cols = np.meshgrid(np.arange(out[0]) * stride[0] - padding[0], np.arange(out[1]) * stride[1] - padding[1],
                             indexing="ij")
    best, winners = np.full(x.shape[:2] + out, -np.inf), np.zeros(x.shape[:2] + out, np.int64)
    for i, j, (r, c) in _taps(k, stride, out):
        cell = xp[:, :, r, c]
        better = cell > best
        best = np.where(better, cell, best)
        winners = np.where(better, (rows + i) * W + cols + j, winners)
    return best.astype(x.dtype), winners.astype(np.int32)


def maxpool_backward(g, winners, shape):
    """dx of max pooling: each window's gradient added to its winner."""
    N, C = shape[:2]
    dx = np.zeros((N, C, shape[2] * shape[3]))
    n, c, _, _ = np.indices(g.shape)
    np.add.at(dx, (n, c, winners), g.astype(np.float64))
    return dx.reshape(shape)


def _avg_counts(shape, k, stride, padding, include_pad):
    """(Ho, Wo) divisors: k_h k_w, or the window's cells inside the plane."""
    out = _windows(shape, k, stride, padding)
    if include_pad:
        return np.full(out, float(k[0] * k[1]))
    inside = _pad(np.ones((1, 1) + tuple(shape[2:])), padding)
    return sum(inside[0, 0, rows, cols] for _, _, (rows, cols) in _taps(k, stride, out))


def avgpool_forward(x, k, stride, padding, include_pad):
    """y of average pooling (zero padding; divisor per ``include_pad``, as torch)."""
    out = _windows(x.shape, k, stride, padding)
    xp = _pad(x, padding)
    return sum(xp[:, :, rows, cols] for _, _, (rows, cols) in _taps(k, stride, out)) / _avg_counts(
        x.shape, k, stride, padding, include_pad)


def avgpool_backward(g, shape, k, stride, padding, include_pad):
    """dx of average pooling for the output gradient g."""
    H, W = shape[2:]
    ph, pw = padding
    share = g.astype(np.float64) / _avg_counts(shape, k, stride, padding, include_pad)
    dxp = _pad(np.zeros(shape), padding)
    for _, _, (rows, cols) in _taps(k, stride, g.shape[2:]):
        dxp[:, :, rows, cols] += share
    return dxp[:, :, ph:ph + H, pw:pw + W]


def _adaptive_bins(size, out):
    """torch's adaptive pooling bins: [floor(i size / out), ceil((i + 1) size / out))."""
    return [(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]


def adaptive_avgpool_forward(x, out):
    """y (N, C, out_h, out_w) of adaptive average pooling."""
    rows, cols = _adaptive_bins(x.shape[2], out[0]), _adaptive_bins(x.shape[3], out[1])
    return np.stack([np.stack([x[:, :, r0:r1, c0:c1].astype(np.float64).mean(axis=(2, 3)) for c0, c1 in cols], -1)
                     for r0, r1 in rows], -2)


def adaptive_avgpool_backward(g, shape):
    """dx of adaptive average pooling for the output gradient g (N, C, out_h, out_w)."""
    dx = np.zeros(shape)
    for a, (r0, r1) in enumerate(_adaptive_bins(shape[2], g.shape[2])):
        for b, (c0, c1) in enumerate(_adaptive_bins(shape[3], g.shape[3])):
            dx[:, :, r0:r1, c0:c1] += g[:, :, a:a + 1, b:b + 1] / ((r1 - r0) * (c1 - c0))
    return dx


def _channel_axes(x):
    return (0,) if x.ndim == 2 else (0, 2, 3)


def _per_channel(v, x):
    return v.reshape((1, -1) + (1,) * (x.ndim - 2))


def batchnorm_train(x, gamma, beta, running_mean, running_var, momentum, eps):
    """(y, new running mean, new running var) of batch norm in training mode: the batch's
    biased variance normalises, its unbiased one enters the running variance."""
    x = x.astype(np.float64)
    axes = _channel_axes(x)
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    n = x.size // x.shape[1]
    y = _per_channel(gamma, x) * (x - _per_channel(mean, x)) / np.sqrt(_per_channel(var, x) + eps) \
        + _per_channel(beta, x)
    return (y, (1 - momentum) * running_mean + momentum * mean,
            (1 - momentum) * running_var + momentum * var * n / max(n - 1, 1))


def batchnorm_train_backward(x, gamma, g, eps):
    """(dx, dgamma, dbeta) of batch norm in training mode (the batch statistics depend on x)."""
    x, g = x.astype(np.float64), g.astype(np.float64)
    axes = _channel_axes(x)
    xhat = (x - _per_channel(x.mean(axis=axes), x)) / np.sqrt(_per_channel(x.var(axis=axes), x) + eps)
    dgamma, dbeta = (g * xhat).sum(axis=axes), g.sum(axis=axes)
    n = x.size // x.shape[1]
    dx = _per_channel(gamma / np.sqrt(x.var(axis=axes) + eps), x) / n * (
        n * g - _per_channel(dbeta, x) - xhat * _per_channel(dgamma, x))
    return dx, dgamma, dbeta


def batchnorm_eval(x, gamma, beta, running_mean, running_var, eps):
    """y of batch norm in eval mode (the running statistics normalise)."""
    x = x.astype(np.float64)
    return _per_channel(gamma / np.sqrt(running_var + eps), x) * (x - _per_channel(running_mean, x)) \
        + _per_channel(beta, x)


def batchnorm_eval_backward(x, gamma, running_mean, running_var, g, eps):
    """(dx, dgamma, dbeta) of batch norm in eval mode (fixed statistics)."""
    x, g = x.astype(np.float64), g.astype(np.float64)
    axes = _channel_axes(x)
    scale = _per_channel(1 / np.sqrt(running_var + eps), x)
    xhat = (x - _per_channel(running_mean, x)) * scale
    return g * _per_channel(gamma, x) * scale, (g * xhat).sum(axis=axes), g.sum(axis=axes)


def lrn(x, size, alpha, beta, k, g):
    """(y, dx) of local response normalisation across channels, by its definition."""
    C = x.shape[1]
    sq = np.pad(x.astype(np.float64) ** 2, ((0, 0), (size // 2, (size - 1) // 2), (0, 0), (0, 0)))
    s = k + alpha / size * sum(sq[:, j:j + C] for j in range(size))
    y = x * s ** -beta
    t = np.pad(g * y / s, ((0, 0), ((size - 1) // 2, size // 2), (0, 0), (0, 0)))
    dx = g * s ** -beta - 2 * alpha * beta / size * x * sum(t[:, j:j + C] for j in range(size))
    return y, dx


def cross_entropy(z, t, smoothing):
    """(mean loss, softmax probabilities, dz) of softmax cross-entropy with label smoothing:
    the target distribution is (1 - smoothing) one-hot + smoothing / K."""
    z = z.astype(np.float64)
    n, k = z.shape
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    q = np.full((n, k), smoothing / k)
    q[np.arange(n), t] += 1 - smoothing
    return float(-(q * np.log(p)).sum() / n), p, (p - q) / n


def sgd_step(p, g, buf, lr, momentum, dampening, nesterov, weight_decay, first):
    """torch.optim.SGD's update of (p, buf) in float64: the new arrays."""
    d = g + weight_decay * p
    if momentum:
        buf = d if first else momentum * buf + (1 - dampening) * d
        d = d + momentum * buf if nesterov else buf
    return p - lr * d, buf


def adam_step(p, g, m, v, lr, betas, eps, weight_decay, decoupled, step):
    """torch.optim.Adam's (AdamW's when ``decoupled``) update of (p, m, v) in float64."""
    b1, b2 = betas
    if decoupled:
        p = p * (1 - lr * weight_decay)
    else:
        g = g + weight_decay * p
    m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
    return p - lr / (1 - b1 ** step) * m / (np.sqrt(v) / np.sqrt(1 - b2 ** step) + eps), m, v
