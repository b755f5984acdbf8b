"""Why did the model say that? One image through a model, every layer shown: the softmax
over the classes, the feature maps of every layer, the filters of every convolution and a
Grad-CAM heat map (Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks
via Gradient-based Localization", ICCV 2017) for any layer with feature maps and any class.

Grad-CAM of class c at a layer whose output for the image is A (K, h, w):

    alpha_k = mean over (h, w) of dy_c / dA_k       (y_c: the class's score, before softmax)
    cam     = ReLU(sum_k alpha_k A_k)               (h, w)
    heatmap = cam upsampled bilinearly to the image's (H, W) (half-pixel centres, as
              torch's interpolate(align_corners=False) and cv2.resize), then scaled to
              [0, 1] by its minimum and maximum (all zeros where the map is constant)

A is caught by a forward hook on the layer (a hooked module hands its hook a computed
output, so nothing after the layer fuses into it) and its gradient by ``retain_grad()``
on that output, after ``backward`` of y_c. The parameters' ``requires_grad`` and ``.grad``
and the model's train/eval mode are as they were afterwards: only the image is a leaf of
the graph, and the model runs in eval mode (dropout off, batch norm on its running
statistics), as it predicts. Because the model's mode and flags change for the duration of
the call, explain a copy of a model that another thread is training.

Free of Qt: the studio's one-image view and ``numbacnn explain`` both call :func:`explain`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import kernels
from .autograd import Tensor, enable_grad
from .nn import Conv2d, Module

__all__ = ["Explanation", "FeatureMap", "Filters", "conv_layers", "explain", "heatmap", "resize_bilinear", "colorize",
           "overlay"]

# a blue -> cyan -> yellow -> red ramp: (position in [0, 1], RGB)
RAMP = ((0.0, (20, 30, 160)), (1 / 3, (0, 170, 255)), (2 / 3, (255, 225, 0)), (1.0, (215, 0, 0)))


@dataclass
class FeatureMap:
    """A layer's output for the image: name (the module's name in the model), kind (its
    class name) and maps in the model's float dtype, (C, h, w) for a spatial output, (n,) otherwise."""

    name: str
    kind: str
    maps: np.ndarray


@dataclass
class Filters:
    """A convolution's weights: name, weight (out, in / groups, kh, kw) in the model's float dtype."""

    name: str
    weight: np.ndarray


@dataclass
class Explanation:
    """What :func:`explain` found for one image.

    probabilities: float64 (classes,), the softmax of the logits; class_names: one per
    class; predicted: the index of the highest probability; target: the class explained.
    layer: the name of the layer explained; activations A and gradients dy_target / dA,
    (K, h, w) in the model's float dtype; weights alpha, float64 (K,); cam: ReLU(sum_k alpha_k A_k), float64
    (h, w), unscaled; heatmap: float64 (H, W) in [0, 1]. feature_maps: every leaf layer's
    output in the order they ran; filters: every convolution's weights."""

    probabilities: np.ndarray
    class_names: list
    predicted: int
    target: int
    layer: str
    activations: np.ndarray
    gradients: np.ndarray
    weights: np.ndarray
    cam: np.ndarray
    heatmap: np.ndarray
    feature_maps: list = field(default_factory=list)
    filters: list = field(default_factory=list)

    def top(self, k: int = 3) -> list:
        """The k most probable classes as (index, name, probability), most probable first
        (ties toward the lower index)."""
        order = np.argsort(-self.probabilities, kind="stable")[:max(0, int(k))]
        return [(int(i), self.class_names[i], float(self.probabilities[i])) for i in order]


def conv_layers(model: Module) -> list:
    """The names of ``model``'s Conv2d modules, in the order they were registered."""
    return [name for name, m in model.named_modules() if isinstance(m, Conv2d)]


def _module(model: Module, layer: str | None) -> tuple[str, Module]:
    """The layer to explain: ``layer`` by its module name, else the last Conv2d."""
    modules = dict(model.named_modules())
    convs = conv_layers(model)
    if layer is None:
        if not convs:
            raise ValueError("the model has no Conv2d layer to explain; name a layer with feature maps")
        layer = convs[-1]
    if layer not in modules or layer == "":
        raise ValueError(f"the model has no layer named {layer!r}; its convolutions are: "
                         f"{', '.join(convs) or 'none'}")
    return layer, modules[layer]


def _check_image(image) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a numpy array (C, H, W), got {type(image).__name__}")
    if image.ndim != 3 or 0 in image.shape:
        raise ValueError(f"image must be (C, H, W) with no empty axis, got shape {image.shape}")
    if image.dtype.kind not in "fiu":
        raise TypeError(f"image must hold numbers, got dtype {image.dtype}")
    a = np.asarray(image, dtype=np.float64)
    if not np.isfinite(a).all():
        raise ValueError("image holds NaN or infinite values")
    return a


def _host(t: Tensor) -> np.ndarray:
    """A host copy of the tensor's values, in its dtype."""
    return np.array(t.numpy())


def explain(model: Module, image: np.ndarray, layer: str | None = None, target: int | None = None,
            class_names=None, maps: bool = True) -> Explanation:
    """The explanation of ``model``'s prediction for ``image`` float (C, H, W), as the
    model takes it (normalised): the softmax, and Grad-CAM at ``layer`` (a module name,
    default the last Conv2d) for class ``target`` (default the predicted one).
    ``class_names``: one per class (default "0", "1", ...). ``maps``: also record every
    leaf layer's feature maps and every convolution's filters. ValueError / TypeError
    naming the argument for a bad image, layer or class, or a model that does not output
    (1, classes) scores."""
    x = _check_image(image)
    name, hooked = _module(model, layer)
    params = list(model.parameters())
    dtype = np.dtype(next((p.dtype for p in params), np.float32))      # float64 after model.double()
    if np.abs(x).max() > np.finfo(dtype).max:
        raise ValueError(f"image values overflow the model's {dtype}")
    batch = np.ascontiguousarray(x[None], dtype=dtype)
    caught: dict = {}
    recorded: list = []

    def catch(module, inputs, out):
        caught["out"] = out

    def record(module, inputs, out):
        if isinstance(out, Tensor):
            recorded.append((module, out))

    handles = [hooked.register_forward_hook(catch)]
    names = {}
    if maps:
        for n, m in model.named_modules():
            if n and not any(True for _ in m.children()):
                names.setdefault(id(m), n)
                handles.append(m.register_forward_hook(record))
    wanted = [p.requires_grad for p in params]
    was_training = model.training
    try:
        model.eval()
        for p in params:
            p.requires_grad_(False)
        with enable_grad():
            inp = Tensor(kernels.ops(model.device).asarray(batch)).requires_grad_()
            logits = model(inp)
            out = caught.get("out")
            if not isinstance(out, Tensor) or out.ndim != 4 or out.shape[0] != 1:
                shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
                raise ValueError(f"layer {name!r} outputs {shape}, not feature maps (1, K, h, w)")
            if not isinstance(logits, Tensor) or logits.ndim != 2 or logits.shape[0] != 1:
                shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
                raise ValueError(f"the model outputs {shape} for one image, not class scores (1, classes)")
            scores = _host(logits)[0].astype(np.float64)
            classes = scores.shape[0]
            names_out = [str(i) for i in range(classes)] if class_names is None else [str(c) for c in class_names]
            if len(names_out) != classes:
                raise ValueError(f"class_names has {len(names_out)} names for a model of {classes} classes")
            predicted = int(np.argmax(scores))
            tgt = predicted if target is None else target
            if isinstance(tgt, bool) or not isinstance(tgt, (int, np.integer)) or not 0 <= tgt < classes:
                raise ValueError(f"target class must be a whole number in [0, {classes}), got {target!r}")
            tgt = int(tgt)
            out.retain_grad()
            seed = np.zeros((1, classes), logits.dtype)
            seed[0, tgt] = 1.0
            logits.backward(Tensor(kernels.ops(model.device).asarray(seed)))
            if out.grad is None:
                raise ValueError(f"no gradient reached layer {name!r}: the class scores do not depend on it")
            a = _host(out)[0]
            g = _host(out.grad)[0]
    finally:
        for h in handles:
            h.remove()
        for p, w in zip(params, wanted):
            p.requires_grad_(w)
        model.train(was_training)
    z = np.exp(scores - scores.max())
    alpha = g.astype(np.float64).mean(axis=(1, 2))
    cam = np.maximum(np.tensordot(alpha, a.astype(np.float64), axes=1), 0.0)
    feature = [FeatureMap(names[id(m)], type(m).__name__, _host(t)[0]) for m, t in recorded]
    filters = [Filters(n, _host(m.weight))
               for n, m in model.named_modules() if isinstance(m, Conv2d)] if maps else []
    return Explanation(probabilities=z / z.sum(), class_names=names_out, predicted=predicted, target=tgt,
                       layer=name, activations=a, gradients=g, weights=alpha, cam=cam,
                       heatmap=heatmap(cam, x.shape[1:]), feature_maps=feature, filters=filters)


def heatmap(cam: np.ndarray, size) -> np.ndarray:
    """float64 (H, W) in [0, 1]: the map ``cam`` (h, w) resized bilinearly to ``size``
    (H, W) and scaled by its minimum and maximum (zeros where it is constant)."""
    m = resize_bilinear(cam, size)
    lo, hi = float(m.min()), float(m.max())
    return (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)


def _axis(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear sampling along one axis with half-pixel centres: for each output index,
    the two input indices and the weight of the second."""
    src = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0, None)
    lo = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    return lo, hi, src - lo


def resize_bilinear(m: np.ndarray, size) -> np.ndarray:
    """float64 (H, W): the (h, w) map ``m`` resized bilinearly to ``size`` (H, W), with
    half-pixel centres and clamped edges, as torch's interpolate(mode="bilinear",
    align_corners=False) and cv2.resize(INTER_LINEAR) upsample."""
    m = np.asarray(m, dtype=np.float64)
    if m.ndim != 2 or 0 in m.shape:
        raise ValueError(f"the map must be (h, w) with no empty axis, got shape {m.shape}")
    height, width = (int(s) for s in size)
    if height < 1 or width < 1:
        raise ValueError(f"size must be two whole numbers >= 1, got {tuple(size)}")
    r0, r1, fr = _axis(m.shape[0], height)
    c0, c1, fc = _axis(m.shape[1], width)
    rows = m[r0] * (1 - fr)[:, None] + m[r1] * fr[:, None]
    return rows[:, c0] * (1 - fc) + rows[:, c1] * fc


def colorize(heatmap: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3): ``heatmap`` (H, W) in [0, 1] through the blue-to-red RAMP."""
    h = np.clip(np.asarray(heatmap, dtype=np.float64), 0.0, 1.0)
    xs = [p for p, _ in RAMP]
    return np.stack([np.interp(h, xs, [c[i] for _, c in RAMP]) for i in range(3)], axis=-1).round().astype(np.uint8)


def overlay(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """uint8 (H, W, 3): the uint8 image (H, W, 1 or 3) blended with the colorized heatmap
    (H, W) in [0, 1]; ``alpha`` is the heat map's weight."""
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] not in (1, 3) or img.dtype != np.uint8:
        raise ValueError(f"image must be uint8 (H, W, 1 or 3), got {img.dtype} {img.shape}")
    if tuple(np.shape(heatmap)) != img.shape[:2]:
        raise ValueError(f"heatmap is {np.shape(heatmap)} for an image of {img.shape[:2]}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    rgb = np.broadcast_to(img, (*img.shape[:2], 3)).astype(np.float64)
    return (rgb * (1 - alpha) + colorize(heatmap) * alpha).round().astype(np.uint8)
