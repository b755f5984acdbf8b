"""Slow, obvious, per-sample numpy versions of the batch transforms.

``reference(steps, x, seed)`` draws each step's parameters exactly as the
batch path does (same Generator, same order, via ``step.draw``), then
applies the step sample by sample with plain numpy."""

import numpy as np

from engine.data import transforms as T
from engine.data.batch import Batch


def _hwc(sample, tensor):
    return sample.transpose(1, 2, 0) if tensor else sample


def _back(sample, tensor):
    return sample.transpose(2, 0, 1) if tensor else sample


def crop(sample, top, left, step, tensor):
    img = _hwc(sample, tensor)
    h, w, c = img.shape
    pl, pt, pr, pb = step.padded(h, w)
    if step.padding_mode == "constant":
        padded = np.empty((h + pt + pb, w + pl + pr, c), img.dtype)
        padded[...] = np.broadcast_to(np.asarray(step.fill, img.dtype), (c,))
        padded[pt:pt + h, pl:pl + w] = img
    else:
        padded = np.pad(img, ((pt, pb), (pl, pr), (0, 0)), mode=step.padding_mode)
    th, tw = step.size
    i, j = top + pt, left + pl
    return _back(padded[i:i + th, j:j + tw], tensor)


def color_jitter(sample, factors, order, tensor):
    img = _hwc(sample, tensor).astype(np.float64)
    vmax = 1.0 if tensor else 255.0
    c = img.shape[2]
    for op in order:
        f = factors[op]
        v = img / vmax
        gray = v[..., 0] if c == 1 else 0.299 * v[..., 0] + 0.587 * v[..., 1] + 0.114 * v[..., 2]
        if op == 0:
            v = v * f
        elif op == 1:
            v = f * v + (1 - f) * gray.mean()
        elif c == 3:
            v = f * v + (1 - f) * gray[..., None]
        v = np.clip(v, 0, 1) * vmax
        img = v if tensor else np.floor(v + 0.5)
    return _back(img.astype(sample.dtype), tensor)


def apply_step(step, params, samples, tensor):
    """samples: list of uint8 HWC images or float32 CHW tensors; returns (samples, tensor)."""
    out = []
    for n, s in enumerate(samples):
        if isinstance(step, T.ToTensor):
            out.append((s.transpose(2, 0, 1) / 255.0).astype(np.float32))
        elif isinstance(step, T.Normalize):
            m = np.asarray(step.mean)[:, None, None]
            sd = np.asarray(step.std)[:, None, None]
            out.append(((s - m) / sd).astype(np.float32))
        elif isinstance(step, T.RandomCrop):
            out.append(crop(s, params[0][n], params[1][n], step, tensor))
        elif isinstance(step, T.RandomHorizontalFlip):
            out.append(s[..., ::-1] if tensor and params[n] else s[:, ::-1] if params[n] else s)
        elif isinstance(step, T.ColorJitter):
            out.append(color_jitter(s, params[0][n], params[1][n], tensor))
        elif isinstance(step, T.Lighting):
            out.append(s + params[n][:, None, None])
        elif isinstance(step, T.RandomErasing):
            i, j, h, w = params[0][n]
            e = s.copy()
            e[:, i:i + h, j:j + w] = params[1][n][:, i:i + h, j:j + w]
            out.append(e)
        else:
            raise TypeError(step)
    return out, tensor or isinstance(step, T.ToTensor)


def reference(steps, x, seed):
    """The per-sample result of ``steps`` on batch ``x`` (uint8 (N, H, W, C) or float (N, C, H, W))."""
    rng = np.random.default_rng(seed)
    tensor = x.dtype != np.uint8
    samples = list(x if tensor or x.ndim == 4 else x[..., None])
    for step in steps:
        params = step.draw(rng, Batch(np.stack(samples))) if step.random else None
        samples, tensor = apply_step(step, params, samples, tensor)
    return np.stack(samples)
