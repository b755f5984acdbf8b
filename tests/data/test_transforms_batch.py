"""Every batch transform, and fused pipelines, against the slow per-sample reference."""

import numpy as np
import pytest
from PIL import Image

from engine.data import kernels
from engine.data import transforms as T
from engine.data.batch import Batch
from transform_reference import reference

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, (6, 7, 9, 3), dtype=np.uint8)
GRAY = RNG.integers(0, 256, (6, 7, 9), dtype=np.uint8)
TENSORS = RNG.random((6, 3, 7, 9), dtype=np.float32)


def check(pipeline, x, seed=1, atol=1e-5):
    fast = T.apply_batch(T.Compose(pipeline), x, np.random.default_rng(seed))
    slow = reference(T.batch_steps(T.Compose(pipeline)), x, seed)
    assert fast.dtype == slow.dtype and fast.shape == slow.shape
    if fast.dtype == np.uint8:
        np.testing.assert_array_equal(fast, slow)
    else:
        np.testing.assert_allclose(fast, slow, atol=atol, rtol=1e-5)
        assert fast.flags.c_contiguous
    return fast


def test_to_tensor():
    out = check([T.ToTensor()], IMAGES)
    assert out.shape == (6, 3, 7, 9) and out.dtype == np.float32
    assert check([T.ToTensor()], GRAY).shape == (6, 1, 7, 9)


@pytest.mark.parametrize("mean, std", [((0.5,), (0.25,)), ((0.1, 0.2, 0.3), (0.5, 0.6, 0.7)), (0.4, 2.0)])
def test_normalize(mean, std):
    check([T.ToTensor(), T.Normalize(mean, std)], IMAGES)
    check([T.Normalize(mean, std)], TENSORS)


def test_normalize_needs_a_tensor_and_matching_channels():
    with pytest.raises(TypeError, match="ToTensor"):
        T.apply_batch(T.Normalize((0.5,), (0.5,)), IMAGES)
    with pytest.raises(ValueError, match="2 values for 3 channels"):
        T.apply_batch(T.Compose([T.ToTensor(), T.Normalize((0.5, 0.5), (1, 1))]), IMAGES)
    with pytest.raises(ValueError, match="zero"):
        T.Normalize((0.5,), (0.0,))


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric"])
@pytest.mark.parametrize("size, padding", [(7, 2), ((5, 8), (1, 3)), ((9, 11), (0, 1, 3, 2)), ((3, 4), None)])
def test_random_crop(mode, size, padding):
    fill = (10, 20, 30) if mode == "constant" else 0
    for x in (IMAGES, TENSORS):
        check([T.RandomCrop(size, padding=padding, fill=fill, padding_mode=mode)], x)


def test_random_crop_pad_if_needed_and_too_large():
    check([T.RandomCrop((12, 14), pad_if_needed=True, padding_mode="reflect")], IMAGES)
    check([T.RandomCrop((12, 14), padding=1, pad_if_needed=True)], GRAY)
    with pytest.raises(ValueError, match="larger than the padded image"):
        T.apply_batch(T.RandomCrop(20, padding=2), IMAGES)


def test_random_crop_covers_every_offset():
    x = np.zeros((2000, 4, 4, 1), np.uint8)
    top, left = T.RandomCrop(4, padding=2).draw(np.random.default_rng(0), Batch(x))
    assert set(top) == set(left) == {-2, -1, 0, 1, 2}


@pytest.mark.parametrize("p", [0.0, 0.5, 1.0])
def test_random_horizontal_flip(p):
    out = check([T.RandomHorizontalFlip(p)], IMAGES)
    if p == 1.0:
        np.testing.assert_array_equal(out, IMAGES[:, :, ::-1])
    if p == 0.0:
        np.testing.assert_array_equal(out, IMAGES)
    check([T.RandomHorizontalFlip(p)], TENSORS)


@pytest.mark.parametrize("pipeline", [
    [T.RandomCrop(7, padding=3), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize((0.4, 0.5, 0.6), (0.2, 0.3, 0.4))],
    [T.RandomHorizontalFlip(), T.RandomCrop((5, 6), padding=2, padding_mode="reflect"), T.RandomHorizontalFlip(),
     T.ToTensor()],
    [T.RandomCrop(8, padding=(1, 2, 3, 4), fill=(1, 2, 3)), T.RandomCrop(6, padding=1, padding_mode="edge"),
     T.ToTensor()],
    [T.ToTensor(), T.Normalize((0.5,), (0.5,)), T.RandomCrop(7, padding=4, fill=-1.0), T.RandomHorizontalFlip()],
    [T.ToTensor(), T.RandomCrop(7, padding=2), T.Normalize((0.5,), (0.5,))],
])
def test_fused_pipelines(pipeline):
    check(pipeline, IMAGES)
    for seed in range(3):
        check(pipeline, IMAGES, seed)


def test_fused_pipeline_on_grayscale_and_by_index():
    pipeline = T.Compose([T.RandomCrop(7, padding=2), T.RandomHorizontalFlip(), T.ToTensor(),
                          T.Normalize((0.1307,), (0.3081,))])
    check(pipeline.transforms, GRAY)
    index = np.array([5, 0, 0, 3])
    by_index = T.apply_batch(pipeline, GRAY, np.random.default_rng(4), index=index)
    np.testing.assert_array_equal(by_index, T.apply_batch(pipeline, GRAY[index], np.random.default_rng(4)))
    with pytest.raises(IndexError):
        T.apply_batch(pipeline, GRAY, index=np.array([6]))


@pytest.mark.parametrize("x", [IMAGES, GRAY, TENSORS, TENSORS[:, :1]], ids=["rgb8", "gray8", "rgbf", "grayf"])
@pytest.mark.parametrize("jitter", [dict(brightness=0.5), dict(contrast=0.6), dict(saturation=0.9),
                                    dict(brightness=0.4, contrast=(0.2, 1.8), saturation=0.4)])
def test_color_jitter(x, jitter):
    pipeline = [T.ColorJitter(**jitter)]
    if x.dtype == np.uint8:
        fast = T.apply_batch(T.Compose(pipeline), x, np.random.default_rng(1))
        slow = reference(pipeline, x, 1)
        assert np.abs(fast.astype(int) - slow.astype(int)).max() <= 1  # float32 vs float64 at .5 ties
        assert (fast != slow).mean() < 0.01
    else:
        check(pipeline, x, atol=1e-5)


def test_color_jitter_order_is_a_permutation_and_factors_in_range():
    factors, order = T.ColorJitter(0.3, 0.2, (0.5, 0.6)).draw(np.random.default_rng(0), Batch(IMAGES))
    assert (np.sort(order, axis=1) == [0, 1, 2]).all()
    assert factors[:, 0].min() >= 0.7 and factors[:, 0].max() <= 1.3
    assert factors[:, 2].min() >= 0.5 and factors[:, 2].max() <= 0.6


def test_color_jitter_in_a_fused_pipeline_leaves_the_input_alone():
    before = IMAGES.copy()
    check([T.RandomCrop(7, padding=1), T.ColorJitter(brightness=0.3), T.ToTensor(), T.Normalize((0.5,), (0.5,))],
          IMAGES, atol=1.5 / 255 / 0.5)
    check([T.ToTensor(), T.ColorJitter(0.3, 0.3, 0.3), T.RandomHorizontalFlip(), T.Normalize((0.5,), (0.5,))], IMAGES)
    np.testing.assert_array_equal(IMAGES, before)


def test_lighting():
    check([T.ToTensor(), T.Lighting(0.1), T.Normalize((0.5,), (0.2,))], IMAGES)
    offsets = T.Lighting(0.1).draw(np.random.default_rng(0), Batch(np.zeros((5000, 3, 1, 1), np.float32)))
    assert offsets.shape == (5000, 3) and 0.01 < offsets.std() < 0.05
    with pytest.raises(TypeError, match="3-channel tensors"):
        T.apply_batch(T.Lighting(), IMAGES)


@pytest.mark.parametrize("value", [0, (0.1, 0.2, 0.3), "random"])
def test_random_erasing(value):
    check([T.ToTensor(), T.Normalize((0.5,), (0.5,)), T.RandomErasing(p=0.7, value=value)], IMAGES)
    with pytest.raises(TypeError, match="ToTensor"):
        T.apply_batch(T.RandomErasing(), IMAGES)


def test_random_erasing_boxes():
    x = np.zeros((3000, 1, 20, 30), np.float32)
    boxes, _ = T.RandomErasing(p=0.5).draw(np.random.default_rng(0), Batch(x))
    i, j, h, w = boxes.T
    erased = h > 0
    assert 0.45 < erased.mean() < 0.55
    assert (i + h <= 20).all() and (j + w <= 30).all() and (i >= 0).all() and (j >= 0).all()
    area = (h * w)[erased] / 600
    assert area.min() >= 0.015 and area.max() <= 0.4
    never, _ = T.RandomErasing(p=0).draw(np.random.default_rng(0), Batch(x))
    assert (never[:, 2] == 0).all()


def test_single_sample_calls():
    img = IMAGES[0]
    np.testing.assert_allclose(T.ToTensor()(img), img.transpose(2, 0, 1) / 255, atol=1e-7)
    gray = GRAY[0]
    assert T.RandomCrop(5, padding=1)(gray).shape == (5, 5)
    assert T.RandomHorizontalFlip(1.0)(gray).tolist() == gray[:, ::-1].tolist()
    pil = Image.fromarray(img)
    out = T.Compose([T.RandomCrop(6), T.ToTensor(), T.Normalize((0.5,), (0.5,))])(pil)
    assert out.shape == (3, 6, 6) and out.dtype == np.float32
    with T.random_context(np.random.default_rng(3)):
        a = T.RandomCrop(5, padding=2)(img)
    with T.random_context(np.random.default_rng(3)):
        b = T.RandomCrop(5, padding=2)(img)
    np.testing.assert_array_equal(a, b)


def test_compose_with_user_callables_runs_per_sample():
    pipeline = T.Compose([T.ToTensor(), lambda t: t * 2, T.Normalize((0.5,), (0.5,))])
    assert T.batch_steps(pipeline) is None
    out = pipeline(IMAGES[1])
    np.testing.assert_allclose(out, (IMAGES[1].transpose(2, 0, 1) / 255 * 2 - 0.5) / 0.5, atol=1e-6)
    with pytest.raises(TypeError, match="not made of batch transforms"):
        T.apply_batch(pipeline, IMAGES)


def test_nested_compose_flattens_and_repr():
    inner = T.Compose([T.ToTensor(), T.Normalize((0.5,), (0.5,))])
    steps = T.batch_steps(T.Compose([T.RandomHorizontalFlip(), inner]))
    assert [type(s).__name__ for s in steps] == ["RandomHorizontalFlip", "ToTensor", "Normalize"]
    assert "Normalize(mean=(0.5,), std=(0.5,)" in repr(inner)


def test_input_is_never_modified():
    x, t = IMAGES.copy(), TENSORS.copy()
    T.apply_batch(T.Compose([T.ColorJitter(0.5, 0.5, 0.5), T.ToTensor(), T.RandomErasing(p=1)]), x)
    T.apply_batch(T.Compose([T.ColorJitter(0.5), T.Lighting(), T.RandomErasing(p=1)]), t)
    T.apply_batch(T.Compose([]), x)
    np.testing.assert_array_equal(x, IMAGES)
    np.testing.assert_array_equal(t, TENSORS)


def test_kernels_release_the_gil_and_are_not_parallel():
    for kernel in (kernels.remap, kernels.color_jitter, kernels.erase, kernels.source_index):
        options = kernel.targetoptions
        assert options.get("nogil") and not options.get("parallel")
        assert type(kernel._cache).__name__ != "NullCache"  # cache=True


def test_source_index_modes():
    f = kernels.source_index
    row = [f(i, 4, kernels.REFLECT) for i in range(-3, 7)]
    assert row == [3, 2, 1, 0, 1, 2, 3, 2, 1, 0]
    assert [f(i, 4, kernels.SYMMETRIC) for i in range(-3, 7)] == [2, 1, 0, 0, 1, 2, 3, 3, 2, 1]
    assert [f(i, 4, kernels.EDGE) for i in (-2, 5)] == [0, 3]
    assert [f(i, 4, kernels.CONSTANT) for i in (-1, 4, 2)] == [-1, -1, 2]
    np.testing.assert_array_equal(
        [f(i, 4, kernels.REFLECT) for i in range(-3, 7)],
        np.pad(np.arange(4), 3, mode="reflect"))
