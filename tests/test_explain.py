"""engine.explain: Grad-CAM against a PyTorch reference on the same weights (the
``grad-cam`` package's GradCAM where it imports, and always the paper's formula written
in torch), the softmax, feature maps and filters, the model left as it was, and one
sentence for every bad argument."""
import numpy as np
import pytest

import engine
from engine.explain import colorize, conv_layers, explain, overlay, resize_bilinear

torch = pytest.importorskip("torch")
from helpers.torch_ref import assert_close, to_torch  # noqa: E402

# The grad-cam package (the ref extra) imports torchvision in its package __init__. PyPI's
# torchvision (0.28.0 for torch 2.13) has a _C.so linked against the CUDA build's
# libtorch_cuda.so and libc10_cuda.so, so beside a CPU build of torch `import torchvision` stops
# with "operator torchvision::nms does not exist"; where the CUDA build is installed the
# comparison below runs.
try:
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
except Exception:  # noqa: BLE001 - absent, or its torchvision does not load beside this torch
    GradCAM = None


def _model(name, shape, seed=0):
    engine.manual_seed(seed)
    m = engine.models.get(name, in_channels=shape[0], num_classes=10, input_size=tuple(shape[1:]))
    for mod in m.modules():            # batch norm on running statistics that are not the identity
        if isinstance(mod, engine.nn.BatchNorm2d):
            c = mod.running_mean.shape[0]
            rng = np.random.default_rng(c)
            mod.running_mean[:] = rng.normal(0, 0.2, c)
            mod.running_var[:] = rng.uniform(0.5, 2.0, c)
    return m


def _torch_paper(twin, x, layer, target):
    """The paper's formula in torch: (A, dy/dA, alpha, cam, heatmap) for one image."""
    caught = {}

    def hook(module, inputs, out):
        out.retain_grad()
        caught["a"] = out

    h = dict(twin.named_modules())[layer].register_forward_hook(hook)
    try:
        twin.zero_grad(set_to_none=True)
        y = twin(torch.from_numpy(x[None]))
        y[0, target].backward()
    finally:
        h.remove()
    a, g = caught["a"][0].detach().double(), caught["a"].grad[0].double()
    alpha = g.mean(dim=(1, 2))
    cam = torch.relu((alpha[:, None, None] * a).sum(0))
    up = torch.nn.functional.interpolate(cam[None, None], size=x.shape[1:], mode="bilinear", align_corners=False)[0, 0]
    up = (up - up.min()) / (up.max() - up.min()) if up.max() > up.min() else torch.zeros_like(up)
    return a.numpy(), g.numpy(), alpha.numpy(), cam.numpy(), up.numpy()


CASES = [("mnist_cnn", (1, 28, 28), None), ("mnist_cnn", (1, 28, 28), "0"), ("lenet5", (1, 28, 28), None),
         ("cifar_cnn", (3, 32, 32), None), ("resnet20", (3, 32, 32), "6.0.body.3")]


@pytest.mark.parametrize("name,shape,layer", CASES)
def test_grad_cam_matches_torch(name, shape, layer):
    m = _model(name, shape)
    twin = to_torch(m).eval()
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    probs = torch.softmax(twin(torch.from_numpy(x[None])).double(), dim=1)[0].detach().numpy()
    nonzero = 0
    for target in (None, *np.argsort(probs)[:2].tolist()):
        e = explain(m, x, layer=layer, target=target)
        assert e.layer == (layer or conv_layers(m)[-1])
        assert e.target == (e.predicted if target is None else target) and e.predicted == int(np.argmax(probs))
        assert_close(e.probabilities, probs, rtol=1e-4, atol=1e-6, what="softmax")
        a, g, alpha, cam, heat = _torch_paper(twin, x, e.layer, e.target)
        nonzero += cam.max() > 0
        assert_close(e.activations, a, what="activations")
        assert_close(e.gradients, g, rtol=1e-3, atol=1e-4, what="gradients")
        assert_close(e.weights, alpha, rtol=1e-3, atol=1e-4, what="alpha")
        assert_close(e.cam, cam, rtol=1e-3, atol=1e-4, what="cam")
        np.testing.assert_allclose(e.heatmap, heat, atol=1e-3)
        assert e.heatmap.shape == shape[1:] and e.heatmap.min() == 0.0 and e.heatmap.max() == (cam.max() > 0)
        if GradCAM is not None:
            with GradCAM(model=twin, target_layers=[dict(twin.named_modules())[e.layer]]) as ref:
                want = ref(input_tensor=torch.from_numpy(x[None]), targets=[ClassifierOutputTarget(e.target)])[0]
            np.testing.assert_allclose(e.heatmap, want, atol=1e-3)
    assert nonzero >= 2, "cases whose maps are all zeros compare little"


def test_feature_maps_filters_and_the_model_left_as_it_was():
    m = _model("mnist_cnn", (1, 28, 28))
    m.train()
    m[0].weight.requires_grad_(False)
    twin = to_torch(m).eval()
    x = np.random.default_rng(2).standard_normal((1, 28, 28)).astype(np.float32)
    e = explain(m, x, class_names=[f"digit {i}" for i in range(10)])
    assert m.training and not m[0].weight.requires_grad and m[3].weight.requires_grad
    assert all(p.grad is None for p in m.parameters())
    assert [f.name for f in e.feature_maps] == [str(i) for i in range(10)]
    ref = x[None]
    for f, layer in zip(e.feature_maps, twin):
        ref = layer(torch.from_numpy(np.asarray(ref))).detach().numpy()
        assert_close(f.maps, ref[0], what=f"layer {f.name}")
    assert f.kind == "Linear" and e.feature_maps[1].kind == "ReLU"
    assert [f.name for f in e.filters] == ["0", "3"]
    np.testing.assert_array_equal(e.filters[1].weight, m[3].weight.numpy())
    assert e.top(2)[0] == (e.predicted, f"digit {e.predicted}", float(e.probabilities.max()))
    assert np.isclose(e.probabilities.sum(), 1.0)
    again = explain(m, x, maps=False)
    assert again.feature_maps == [] and again.filters == []
    np.testing.assert_array_equal(again.heatmap, e.heatmap)    # eval mode: no dropout, the same map


@pytest.mark.parametrize("kwargs,needle", [
    (dict(layer="nope"), "no layer named 'nope'; its convolutions are: 0, 3"),
    (dict(layer="7"), "layer '7' outputs (1, 50), not feature maps"),
    (dict(target=10), "target class must be a whole number in [0, 10), got 10"),
    (dict(target=-1), "got -1"),
    (dict(target=True), "got True"),
    (dict(class_names=["a", "b"]), "class_names has 2 names for a model of 10 classes"),
])
def test_bad_arguments_are_named(kwargs, needle):
    m = _model("mnist_cnn", (1, 28, 28))
    with pytest.raises(ValueError) as info:
        explain(m, np.zeros((1, 28, 28), np.float32), **kwargs)
    assert needle in str(info.value)
    assert all(p.requires_grad and p.grad is None for p in m.parameters()) and m.training


@pytest.mark.parametrize("image,needle", [
    (np.zeros((28, 28), np.float32), "image must be (C, H, W)"),
    (np.full((1, 28, 28), np.nan, np.float32), "NaN or infinite"),
    (np.zeros((1, 28, 28), bool), "must hold numbers"),
    ([[[0.0]]], "must be a numpy array"),
])
def test_bad_images_are_named(image, needle):
    with pytest.raises((ValueError, TypeError), match=needle.replace("(", r"\(").replace(")", r"\)")):
        explain(_model("mnist_cnn", (1, 28, 28)), image)


def test_a_model_without_convolutions():
    m = engine.nn.Sequential(engine.nn.Flatten(), engine.nn.Linear(4, 2))
    with pytest.raises(ValueError, match="no Conv2d layer"):
        explain(m, np.zeros((1, 2, 2), np.float32))


@pytest.mark.parametrize("src,dst", [((3, 3), (28, 28)), ((8, 5), (32, 20)), ((7, 7), (7, 7)), ((1, 4), (3, 9))])
def test_resize_bilinear_is_torchs(src, dst):
    m = np.random.default_rng(0).random(src)
    want = torch.nn.functional.interpolate(torch.from_numpy(m)[None, None], size=dst, mode="bilinear",
                                           align_corners=False)[0, 0].numpy()
    np.testing.assert_allclose(resize_bilinear(m, dst), want, atol=1e-12)


def test_colorize_and_overlay():
    c = colorize(np.array([[0.0, 1.0, 2.0, -1.0]]))
    assert c.dtype == np.uint8 and c.shape == (1, 4, 3)
    assert tuple(c[0, 0]) == (20, 30, 160) and tuple(c[0, 1]) == (215, 0, 0)
    assert tuple(c[0, 2]) == tuple(c[0, 1]) and tuple(c[0, 3]) == tuple(c[0, 0])
    img = np.full((2, 4, 1), 100, np.uint8)
    o = overlay(img, np.zeros((2, 4)), alpha=0.5)
    assert o.shape == (2, 4, 3) and tuple(o[0, 0]) == (60, 65, 130)
    with pytest.raises(ValueError, match=r"heatmap is \(3, 4\) for an image of \(2, 4\)"):
        overlay(img, np.zeros((3, 4)))
    with pytest.raises(ValueError, match="alpha must be in"):
        overlay(img, np.zeros((2, 4)), alpha=2)


def test_a_float64_model_is_explained_in_float64():
    m = _model("mnist_cnn", (1, 28, 28)).double()
    x = np.random.default_rng(3).standard_normal((1, 28, 28)).astype(np.float32)
    e = explain(m, x, layer="0")
    a, g, alpha, cam, heat = _torch_paper(to_torch(m).eval(), x.astype(np.float64), "0", e.target)
    np.testing.assert_allclose(e.cam, cam, rtol=1e-9, atol=1e-12)
    assert all(p.dtype == np.float64 for p in m.parameters())


def test_an_image_beyond_float32_is_refused():
    with pytest.raises(ValueError, match="image values overflow the model's float32"):
        explain(_model("mnist_cnn", (1, 28, 28)), np.full((1, 28, 28), 1e300))


def test_a_cuda_model_gives_the_cpu_explanation():
    from engine.kernels import cuda
    if not cuda.available():
        pytest.skip(f"CUDA kernels cannot run here: {cuda.unusable_reason()}")
    engine.manual_seed(0)
    nn = engine.nn
    m = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32, 3))
    x = np.random.default_rng(0).standard_normal((1, 8, 8)).astype(np.float32)
    on_cpu = explain(m, x)
    on_gpu = explain(m.to("cuda"), x)
    np.testing.assert_allclose(on_gpu.cam, on_cpu.cam, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(on_gpu.probabilities, on_cpu.probabilities, atol=1e-6)
    assert [f.maps.shape for f in on_gpu.feature_maps] == [(2, 8, 8), (2, 8, 8), (2, 4, 4), (32,), (3,)]
    assert all(isinstance(f.weight, np.ndarray) for f in on_gpu.filters)
