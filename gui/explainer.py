"""The convolution explainer's model, free of Qt (issue 18, in the spirit of CNN
Explainer, Wang et al., IEEE VIS 2020).

An :class:`Explainer` holds one input, planes (C, H, W) float32 (a channel of the probe
image, all of its channels, or a small grid of numbers), one operation (``"conv"`` with a
kernel (C, kh, kw) and a bias, ``"max"`` or ``"avg"`` pooling over one plane), and its
window size, stride and zero padding, each an (h, w) pair. From them it derives, once
per change:

* ``padded``: the input with its padding (C, H + 2ph, W + 2pw) float64 (zeros; -inf for
  max pooling, which never picks a pad);
* ``axes``: per axis, the output size (N + 2p - F)/s + 1 written out with its exact value
  and the floor, and the input rows / columns that no window ever reads, with why;
* ``output``: the output map (Ho, Wo), computed by the engine's own kernels
  (``engine.nn.functional.conv2d / max_pool2d / avg_pool2d`` on a (1, C, H, W) tensor),
  or None with ``problem`` saying why there is none;
* ``cell(i, j)``: output cell (i, j)'s window and arithmetic (products and sum, max,
  mean), computed in numpy independently of the engine, so each checks the other.

A cursor walks the output cells in raster order for the animation: ``filled`` cells of
the map are shown and ``selected`` is the cell whose window and arithmetic are shown
(``step``, ``reset``, ``select``). Views observe it as they observe the app state
(``subscribe(fn, topic)``, gui.state.Observable): SETTINGS after a change of input,
operation or geometry, CURSOR when the cursor moves.

``model_layers(model)`` and ``load_source(...)`` (engine thread) give the explainer the
conv and pooling layers of the user's model, with copies of their weights, and the
probe image as the model sees it.

The explainer itself runs its kernels on the thread that updates it (the GUI thread):
once Numba's cache is loaded, a change costs a few milliseconds for a 28×28 probe and
5-15 ms for 512×512; grad mode is thread-local, and the CPU kernels' pool takes
callers from any thread (engine/kernels/cpu/parallel.py), so a run training meanwhile
is not disturbed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from engine import from_numpy, nn, no_grad
from engine.errors import ShapeError
from engine.kernels import conv_output_size
from engine.nn import functional as F

from . import backend
from .state import Observable

SETTINGS, CURSOR = "settings", "cursor"
OPS = {"conv": "convolution", "max": "max pooling", "avg": "average pooling"}
MAX_SIDE = 512          # input rows and columns
MAX_CHANNELS = 64       # input channels summed by a convolution
MAX_WINDOW = 32         # kernel size, stride and padding, per axis
AXIS_NAMES = ("rows", "columns")


def fmt(v: float) -> str:
    """A number as the explainer writes it: 3 significant digits, -inf as -∞, no -0."""
    if v == -math.inf:
        return "-∞"
    s = f"{v:.3g}"
    return "0" if s == "-0" else s


def _factor(v: float) -> str:
    """A factor of a product: negative numbers in brackets."""
    s = fmt(v)
    return f"({s})" if s.startswith("-") else s


def _spans(indices) -> str:
    """[3, 4, 5, 9] -> "3–5, 9"."""
    out, run = [], []
    for i in indices:
        if run and i != run[-1] + 1:
            out.append(run)
            run = []
        run.append(i)
    if run:
        out.append(run)
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}–{r[-1]}" for r in out)


def _exact(f: Fraction) -> str:
    """13.5, 26, or 26/3 ≈ 8.67 when no short decimal is exact."""
    if f.denominator == 1:
        return str(f.numerator)
    d = f.denominator
    while d % 2 == 0:
        d //= 2
    while d % 5 == 0:
        d //= 5
    if d == 1:
        return f"{float(f):g}"
    return f"{f.numerator}/{f.denominator} ≈ {float(f):.3g}"


@dataclass(frozen=True)
class Axis:
    """One axis of the output-size formula: input length ``n``, window ``k``, stride
    ``s``, zero padding ``p`` (``name``: "rows" or "columns")."""

    name: str
    n: int
    k: int
    s: int
    p: int

    @property
    def size(self) -> int:
        """The output length the engine gives, floor((n + 2p - k)/s) + 1 (< 1: no output)."""
        return conv_output_size(self.n, self.k, self.s, self.p)

    @property
    def exact(self) -> Fraction:
        return Fraction(self.n + 2 * self.p - self.k, self.s) + 1

    @property
    def reach(self) -> int:
        """Padded positions 0 .. reach-1 are inside some window."""
        return (self.size - 1) * self.s + self.k if self.size >= 1 else 0

    @property
    def unread(self) -> tuple[int, ...]:
        """The input positions (0-based, without the padding) no window reads."""
        if self.size < 1:
            return tuple(range(self.n))
        read = np.zeros(self.n + 2 * self.p, bool)
        for i in range(self.size):
            read[i * self.s:i * self.s + self.k] = True
        return tuple(int(r) for r in np.flatnonzero(~read[self.p:self.p + self.n]))

    def formula(self) -> str:
        """The formula with this axis's numbers: (28 + 2×1 − 5)/2 + 1 = 13.5 → 13 (floor)."""
        text = f"({self.n} + 2×{self.p} − {self.k})/{self.s} + 1 = {_exact(self.exact)}"
        if self.exact.denominator != 1:
            text += f" → {self.size} (floor)"
        return text

    def explanation(self) -> str:
        """Why the output has this size: which input rows (or columns) are never read."""
        one = self.name[:-1]
        if self.size < 1:
            return (f"no output: the {self.k}-{one} window does not fit in the {self.n + 2 * self.p} {self.name} "
                    f"of the padded input ({self.n} + 2×{self.p})")
        unread = self.unread
        tail = [r for r in unread if r + self.p >= self.reach]
        gaps = [r for r in unread if r + self.p < self.reach]
        left = self.n + 2 * self.p - self.reach
        parts = []
        if left:
            dropped = (f"{self._which(tail)} never read" if tail else
                       f"{'it is' if left == 1 else 'they are'} padding, so every input {one} is still read")
            last = (one if left == 1 else f"{left} {self.name}") + " of the padded input"
            parts.append(f"{self.n} + 2×{self.p} − {self.k} = {self.n + 2 * self.p - self.k} is not a multiple "
                         f"of the stride {self.s}: the floor drops the last {last}, which no window reaches; "
                         f"{dropped}")
        if gaps:
            parts.append(f"{self._which(gaps)} skipped between windows (the stride {self.s} is larger than the window "
                         f"{self.k})")
        return "; ".join(parts) if parts else f"every input {one} is read"

    def _which(self, indices) -> str:
        """Names input positions for a sentence: input row 6 is / input rows 26–27 are."""
        return (f"input {self.name[:-1]} {indices[0]} is" if len(indices) == 1
                else f"input {self.name} {_spans(indices)} are")


@dataclass(frozen=True)
class Cell:
    """Output cell (i, j): its window (C, kh, kw) of the padded input, whose top-left is
    padded row ``top``, padded column ``left``; the products window × kernel
    (convolution; None for pooling); its value and the arithmetic written out."""

    i: int
    j: int
    top: int
    left: int
    window: np.ndarray
    products: np.ndarray | None
    value: float
    text: str


def _pair(name: str, value, minimum: int) -> tuple[int, int]:
    v = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(v) != 2 or any(isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not minimum <= i <= MAX_WINDOW
                          for i in v):
        raise ValueError(f"explainer: {name} must be an int from {minimum} to {MAX_WINDOW} or a pair of them, "
                         f"got {value!r}")
    return int(v[0]), int(v[1])


def _planes(name: str, value, limit: int, channels: int) -> np.ndarray:
    """A finite float array (H, W) or (C, H, W) -> float32 (C, H, W)."""
    a = np.asarray(value)
    if a.dtype.kind not in "biuf" or a.ndim not in (2, 3) or 0 in a.shape:
        raise ValueError(f"explainer: {name} must be a non-empty array of numbers (H, W) or (C, H, W), "
                         f"got {a.dtype} {a.shape}")
    a = a.astype(np.float32)[None] if a.ndim == 2 else a.astype(np.float32)
    if a.shape[0] > channels or max(a.shape[1:]) > limit:
        raise ValueError(f"explainer: {name} of shape {a.shape} is too large (at most {channels} channels of "
                         f"{limit}×{limit})")
    if not np.isfinite(a).all():
        raise ValueError(f"explainer: {name} holds NaN or infinite values")
    return np.ascontiguousarray(a)


def fit_kernel(kernel: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A kernel (C, kh, kw) cropped to its centre or zero-padded around it to ``size``."""
    out = np.zeros((kernel.shape[0],) + tuple(size), kernel.dtype)
    src, dst = [], []
    for have, want in zip(kernel.shape[1:], size):
        if have >= want:
            a = (have - want) // 2
            src.append(slice(a, a + want))
            dst.append(slice(0, want))
        else:
            a = (want - have) // 2
            src.append(slice(0, have))
            dst.append(slice(a, a + have))
    out[:, dst[0], dst[1]] = kernel[:, src[0], src[1]]
    return out


SOBEL = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], np.float32)   # the default kernel: vertical edges


def number_grid(rows: int = 7, cols: int = 7, seed: int = 0) -> np.ndarray:
    """A small grid of whole numbers 0..9 (rows, cols) float32 to explain with."""
    return np.random.default_rng(seed).integers(0, 10, (rows, cols)).astype(np.float32)


class Explainer(Observable):
    """See the module's docstring. Mutate through ``update`` and the cursor methods."""

    def __init__(self):
        super().__init__()
        self.planes = number_grid()[None]
        self.input_name = "number grid"
        self.op = "conv"
        self.source_kernel = SOBEL[None].copy()
        self.kernel_name = "your kernel"
        self.bias = 0.0
        self.kernel_size = (3, 3)
        self.stride = (1, 1)
        self.padding = (0, 0)
        self.count_include_pad = True
        self.filled = 0
        self.selected = (0, 0)
        self._derive()
        self.filled = self.total

    # -- settings ---------------------------------------------------------------------------
    def update(self, planes=None, input_name: str | None = None, op: str | None = None, kernel=None,
               bias: float | None = None, kernel_name: str | None = None, kernel_size=None, stride=None,
               padding=None, count_include_pad: bool | None = None) -> None:
        """Changes any of the settings (None keeps one): ``planes`` (H, W) or (C, H, W);
        ``op`` in OPS; ``kernel`` (kh, kw) or (C, kh, kw), the convolution's weights, which
        also set ``kernel_size`` unless it is given (then they are cropped or zero-padded
        to it: see fit_kernel); ``bias``; ``kernel_size``, ``stride`` (>= 1), ``padding``
        (>= 0): an int or a pair (h, w). All are checked before any is applied; then the
        derived values are recomputed once and SETTINGS is emitted. The whole map shows."""
        new_planes = self.planes if planes is None else _planes("input", planes, MAX_SIDE, MAX_CHANNELS)
        new_op = self.op if op is None else op
        if new_op not in OPS:
            raise ValueError(f"explainer: op must be one of {', '.join(OPS)}, got {op!r}")
        new_kernel = self.source_kernel if kernel is None else _planes("kernel", kernel, MAX_WINDOW, MAX_CHANNELS)
        if bias is not None and not (isinstance(bias, (int, float, np.floating)) and math.isfinite(bias)):
            raise ValueError(f"explainer: bias must be a finite number, got {bias!r}")
        if kernel_size is not None:
            size = _pair("kernel_size", kernel_size, 1)
        elif kernel is not None:
            size = new_kernel.shape[1:]
        else:
            size = self.kernel_size
        new_stride = self.stride if stride is None else _pair("stride", stride, 1)
        new_padding = self.padding if padding is None else _pair("padding", padding, 0)
        if new_op == "conv" and new_kernel.shape[0] != new_planes.shape[0]:
            raise ValueError(f"explainer: the kernel has {new_kernel.shape[0]} input channels but the input has "
                             f"{new_planes.shape[0]}")
        if new_op != "conv" and new_planes.shape[0] != 1:
            raise ValueError(f"explainer: {OPS[new_op]} works on one plane at a time; the input has "
                             f"{new_planes.shape[0]} channels")
        self.planes, self.op, self.source_kernel = new_planes, new_op, new_kernel
        self.kernel_size, self.stride, self.padding = tuple(size), new_stride, new_padding
        if input_name is not None:
            self.input_name = str(input_name)
        if kernel_name is not None:
            self.kernel_name = str(kernel_name)
        if bias is not None:
            self.bias = float(bias)
        if count_include_pad is not None:
            self.count_include_pad = bool(count_include_pad)
        self._derive()
        self.filled = self.total
        self.selected = (min(self.selected[0], max(self.shape[0] - 1, 0)),
                         min(self.selected[1], max(self.shape[1] - 1, 0)))
        self.emit(SETTINGS)
        self.emit(CURSOR)

    def _derive(self) -> None:
        c, h, w = self.planes.shape
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        self.kernel = fit_kernel(self.source_kernel, self.kernel_size) if self.op == "conv" else None
        self.axes = tuple(Axis(name, n, k, s, p) for name, n, k, s, p in
                          zip(AXIS_NAMES, (h, w), self.kernel_size, self.stride, self.padding))
        self.is_pad = np.ones((h + 2 * ph, w + 2 * pw), bool)
        self.is_pad[ph:ph + h, pw:pw + w] = False
        self.padded = np.full((c, h + 2 * ph, w + 2 * pw), -np.inf if self.op == "max" else 0.0)
        self.padded[:, ph:ph + h, pw:pw + w] = self.planes
        self.problem = ""
        self.output = None
        if min(a.size for a in self.axes) < 1:
            self.problem = "; ".join(a.explanation() for a in self.axes if a.size < 1)
        elif self.op != "conv" and (2 * ph > kh or 2 * pw > kw):
            self.problem = (f"{OPS[self.op]} pads at most half its window: padding {ph}×{pw} is more than half of "
                            f"{kh}×{kw} (the engine, like PyTorch, refuses it)")
        else:
            try:
                self.output = self._engine_output()
            except (ShapeError, ValueError, NotImplementedError) as e:
                self.problem = f"the engine refused it: {e}"

    def _engine_output(self) -> np.ndarray:
        """The output map (Ho, Wo) float32 as the engine's kernels compute it."""
        x = from_numpy(self.planes[None].copy())
        with no_grad():
            if self.op == "conv":
                y = F.conv2d(x, from_numpy(self.kernel[None].copy()), from_numpy(np.array([self.bias], np.float32)),
                             self.stride, self.padding)
            elif self.op == "max":
                y = F.max_pool2d(x, self.kernel_size, self.stride, self.padding)
            else:
                y = F.avg_pool2d(x, self.kernel_size, self.stride, self.padding,
                                 count_include_pad=self.count_include_pad)
        return np.array(y.numpy()[0, 0], np.float32)

    @property
    def shape(self) -> tuple[int, int]:
        """The output map's (Ho, Wo); (0, 0) when there is no output."""
        return self.output.shape if self.output is not None else (0, 0)

    @property
    def total(self) -> int:
        return self.shape[0] * self.shape[1]

    # -- the arithmetic of one cell -----------------------------------------------------------
    def window(self, i: int, j: int) -> tuple[int, int, int, int]:
        """(top, left, height, width) of output cell (i, j)'s window, in padded coordinates."""
        return i * self.stride[0], j * self.stride[1], self.kernel_size[0], self.kernel_size[1]

    def cell(self, i: int, j: int) -> Cell:
        """Output cell (i, j)'s window and arithmetic, in float64 numpy."""
        ho, wo = self.shape
        if not (isinstance(i, (int, np.integer)) and isinstance(j, (int, np.integer)) and 0 <= i < ho
                and 0 <= j < wo):
            raise ValueError(f"explainer: cell ({i}, {j}) is outside the {ho}×{wo} output map")
        top, left, kh, kw = self.window(i, j)
        win = self.padded[:, top:top + kh, left:left + kw]
        pad = self.is_pad[top:top + kh, left:left + kw]
        products = None
        if self.op == "conv":
            products = win * self.kernel.astype(np.float64)
            value = float(products.sum()) + self.bias
            text = self._conv_text(win, value)
        elif self.op == "max":
            value = float(win.max())
            a, b = np.unravel_index(int(win[0].argmax()), (kh, kw))
            text = ("max of\n" + "\n".join("  " + "  ".join(fmt(v) for v in row) for row in win[0])
                    + f"\n= {fmt(value)} (input row {top + a - self.padding[0]}, column {left + b - self.padding[1]})")
        else:
            count = kh * kw if self.count_include_pad else int((~pad).sum())
            value = float(win[0][~pad].sum()) / count
            shown = [[fmt(v) for v, p in zip(row, prow) if self.count_include_pad or not p]
                     for row, prow in zip(win[0], pad)]
            lines = [" + ".join(r) for r in shown if r]
            text = "(  " + "\n + ".join(lines) + f")\n/ {count} = {fmt(value)}"
        return Cell(int(i), int(j), top, left, win.copy(), products, value, text)

    def _conv_text(self, win: np.ndarray, value: float) -> str:
        lines = []
        for c in range(win.shape[0]):
            for r in range(win.shape[1]):
                terms = " + ".join(f"{_factor(x)}×{_factor(k)}" for x, k in zip(win[c, r], self.kernel[c, r]))
                head = f"channel {c}: " if win.shape[0] > 1 and r == 0 else ""
                lines.append(("  " if not lines else "+ ") + head + terms)
        lines.append(f"+ {_factor(self.bias)} (bias)")
        lines.append(f"= {fmt(value)}")
        return "\n".join(lines)

    # -- the cursor ---------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self.filled >= self.total

    def step(self) -> None:
        """The window moves to the next cell in raster order and writes it (from the
        first cell again after the last)."""
        if not self.total:
            return
        if self.finished:
            self.filled = 0
        self.selected = divmod(self.filled, self.shape[1])
        self.filled += 1
        self.emit(CURSOR)

    def reset(self) -> None:
        """An empty output map, the window at the first cell."""
        self.filled, self.selected = 0, (0, 0)
        self.emit(CURSOR)

    def select(self, i: int, j: int) -> None:
        """Shows cell (i, j)'s window and arithmetic; the map is filled up to it."""
        self.cell(i, j)      # checks (i, j)
        self.selected = (int(i), int(j))
        self.filled = max(self.filled, int(i) * self.shape[1] + int(j) + 1)
        self.emit(CURSOR)

    def shown_output(self) -> np.ndarray | None:
        """The output map with the cells not written yet as NaN (None: no output)."""
        if self.output is None:
            return None
        out = self.output.astype(np.float64).reshape(-1)
        out[self.filled:] = np.nan
        return out.reshape(self.shape)

    def operation(self) -> str:
        """What is applied: "layer 0, filter 2 (its 5×5 weights cropped to 3×3), bias
        0.1" or "max pooling, 2×2 window"."""
        kh, kw = self.kernel_size
        if self.op != "conv":
            return f"{OPS[self.op]}, {kh}×{kw} window"
        fh, fw = self.source_kernel.shape[1:]
        resized = ""
        if (fh, fw) != (kh, kw):
            how = "cropped" if fh >= kh and fw >= kw else "zero-padded" if fh <= kh and fw <= kw else "resized"
            resized = f" (its {fh}×{fw} weights {how} to {kh}×{kw})"
        return f"{self.kernel_name}{resized}, {kh}×{kw}, bias {fmt(self.bias)}"

    def describe(self) -> str:
        """One line: what is applied to what, with the stride and padding."""
        (sh, sw), (ph, pw) = self.stride, self.padding
        return (f"{self.operation()}, stride {sh}×{sw}, padding {ph}×{pw}, on the {self.input_name} "
                f"({'×'.join(str(s) for s in self.planes.shape[1:])})")


# --------------------------------------------------------------------------- the user's model
@dataclass(frozen=True)
class Layer:
    """A conv or pooling layer of the user's model: its dotted ``name``, ``op`` (OPS),
    geometry (h, w) pairs, and for a convolution copies of its weight (O, C, kh, kw) and
    bias (O,) float32 (None without one)."""

    name: str
    op: str
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None
    count_include_pad: bool = True

    @property
    def title(self) -> str:
        """As the layer combo lists it: 0 Conv2d 1→6, 5×5, stride 1, padding 0."""
        kind = {"conv": "Conv2d", "max": "MaxPool2d", "avg": "AvgPool2d"}[self.op]
        chans = f" {self.weight.shape[1]}→{self.weight.shape[0]}," if self.weight is not None else ""
        stride, padding = (f"{a}×{b}" if a != b else str(a) for a, b in (self.stride, self.padding))
        kh, kw = self.kernel_size
        return f"{self.name} {kind}{chans} {kh}×{kw}, stride {stride}, padding {padding}"

    def kernel(self, out_channel: int, in_channel: int | None = None) -> np.ndarray:
        """Filter ``out_channel``'s weights for one input channel (1, kh, kw), or for all
        of them (C, kh, kw) when ``in_channel`` is None."""
        o, c = self.weight.shape[:2]
        if not 0 <= out_channel < o or (in_channel is not None and not 0 <= in_channel < c):
            raise ValueError(f"explainer: layer {self.name} has filters 0..{o - 1} over input channels 0..{c - 1}, "
                             f"got filter {out_channel}, channel {in_channel}")
        w = self.weight[out_channel]
        return w if in_channel is None else w[in_channel:in_channel + 1]

    def bias_of(self, out_channel: int) -> float:
        return 0.0 if self.bias is None else float(self.bias[out_channel])


_KINDS = ((nn.Conv2d, "conv"), (nn.MaxPool2d, "max"), (nn.AvgPool2d, "avg"))


def model_layers(model) -> list[Layer]:
    """The model's Conv2d, MaxPool2d and AvgPool2d layers, in order, with copies of
    their weights (on the engine thread: the model may be training)."""
    out = []
    for name, m in model.named_modules():
        op = next((o for t, o in _KINDS if isinstance(m, t)), None)
        if op is None:
            continue
        geo = dict(kernel_size=tuple(m.kernel_size), stride=tuple(m.stride), padding=tuple(m.padding))
        if op == "conv":
            out.append(Layer(name, op, **geo, weight=np.array(m.weight.numpy(), np.float32),
                             bias=None if m.bias is None else np.array(m.bias.numpy(), np.float32)))
        else:
            out.append(Layer(name, op, **geo, count_include_pad=bool(getattr(m, "count_include_pad", True))))
    return out


@dataclass(frozen=True)
class Source:
    """What the explainer can show of the user's work: the model's layers, the probe
    image (C, H, W) float32 as the model sees it (normalised; None without data), and
    captions for both."""

    layers: tuple[Layer, ...]
    probe: np.ndarray | None
    probe_name: str
    model_name: str


def load_source(models: dict, run_id: int | None, run_name: str, model_settings, data, hyper,
                probe_index: int) -> Source:
    """On the engine thread: the layers of run ``run_id``'s model (``models`` is the
    worker's run id -> (model, data, trainer)) and its probe image ``probe_index``; with
    no such run, the model the settings describe, freshly initialised, and the probe
    from the data settings."""
    held = models.get(run_id) if run_id is not None else None
    if held is not None:
        model, bundle = held[0], held[1]
        model_name = run_name
    else:
        bundle = backend.DataBundle(data, hyper)
        model = backend.build_model(model_settings, bundle.shape, len(bundle.classes))
        model_name = ("custom model" if model_settings.source == "custom" else model_settings.zoo_name) + \
            ", untrained (no run yet)"
    probe, probe_name = None, "no probe image: the checkpoint's data is not at hand"
    if isinstance(bundle, backend.DataBundle):
        _, probe, label = bundle.probe(probe_index)
        probe_name = f"probe image {probe_index}, label {bundle.classes[label]}"
    return Source(tuple(model_layers(model)), probe, probe_name, model_name)
