"""engine.vision.utils.make_grid / save_image against hand-built grids (and against
torchvision's make_grid where torchvision imports), and their refusals."""
import importlib.util

import numpy as np
import pytest
from PIL import Image

import engine
from engine.vision.utils import make_grid, save_image

RNG = np.random.default_rng(0)


def _t(a):
    return engine.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def test_grid_layout_by_hand():
    x = RNG.random((5, 3, 2, 3)).astype(np.float32)
    grid = make_grid(_t(x), nrow=3, padding=1, pad_value=-1)
    assert isinstance(grid, engine.Tensor) and grid.shape == (3, 1 + 2 * 3, 1 + 3 * 4)
    expected = np.full((3, 7, 13), -1, np.float32)
    for k in range(5):
        row, col = divmod(k, 3)
        expected[:, 1 + 3 * row:3 + 3 * row, 1 + 4 * col:4 + 4 * col] = x[k]
    np.testing.assert_array_equal(grid.numpy(), expected)


def test_one_channel_images_become_three_and_dtype_is_kept():
    x = RNG.integers(0, 256, (2, 1, 4, 4), dtype=np.uint8)
    grid = make_grid(engine.from_numpy(x), padding=0).numpy()
    assert grid.dtype == np.uint8 and grid.shape == (3, 4, 8)
    assert (grid == np.concatenate([x[0], x[1]], axis=2)).all()


@pytest.mark.parametrize("shape, out", [((1, 3, 4, 5), (3, 4, 5)), ((3, 4, 5), (3, 4, 5)), ((1, 4, 5), (3, 4, 5)),
                                        ((4, 5), (3, 4, 5))])
def test_a_single_image_comes_back_unpadded(shape, out):
    x = RNG.random(shape)
    grid = make_grid(_t(x), padding=7).numpy()
    assert grid.shape == out
    np.testing.assert_array_equal(grid[0], x.reshape(-1, 4, 5)[0].astype(np.float32))


def test_a_list_of_tensors():
    xs = [RNG.random((3, 2, 2)) for _ in range(3)]
    np.testing.assert_array_equal(make_grid([_t(a) for a in xs]).numpy(), make_grid(_t(np.stack(xs))).numpy())


def test_normalize_by_range_whole_batch_and_each_image():
    x = np.stack([np.full((3, 2, 2), 2.0), np.full((3, 2, 2), 4.0)])
    x[0, 0, 0, 0], x[1, 0, 0, 0] = 0.0, 10.0
    original = x.copy()
    t = _t(x)
    whole = make_grid(t, padding=0, normalize=True).numpy()
    np.testing.assert_allclose(whole[0, 0, [0, 1, 2, 3]], [0.0, 0.2, 1.0, 0.4], atol=1e-6)   # [0, 2 | 10, 4] of [0, 10]
    each = make_grid(t, padding=0, normalize=True, scale_each=True).numpy()
    np.testing.assert_allclose(each[1, 0, [0, 2]], [1.0, 0.0], atol=1e-6)   # 2 -> 1 of [0, 2], 4 -> 0 of [4, 10]
    ranged = make_grid(t, padding=0, normalize=True, value_range=(1.0, 3.0)).numpy()
    np.testing.assert_allclose(ranged[0, 0, [0, 1, 2]], [0.0, 0.5, 1.0], atol=1e-6)   # clamped to [1, 3]
    np.testing.assert_array_equal(t.numpy(), original.astype(np.float32))   # the input is untouched


@pytest.mark.parametrize("call, error, message", [
    (lambda: make_grid(np.zeros((2, 3, 4, 4))), TypeError, "not a ndarray"),
    (lambda: make_grid([_t(np.zeros((3, 2, 2))), np.zeros((3, 2, 2))]), TypeError, "list holding a ndarray"),
    (lambda: make_grid([]), TypeError, "non-empty list"),
    (lambda: make_grid([_t(np.zeros((3, 2, 2))), _t(np.zeros((3, 2, 3)))]), ValueError, "differ in shape"),
    (lambda: make_grid(_t(np.zeros((2, 2, 3, 4, 4)))), ValueError, "got shape"),
    (lambda: make_grid(_t(np.zeros((2, 3, 4, 4))), nrow=0), ValueError, "nrow must be a positive integer"),
    (lambda: make_grid(_t(np.zeros((2, 3, 4, 4))), padding=-1), ValueError, "padding must be"),
    (lambda: make_grid(_t(np.zeros((2, 3, 4, 4))), padding=10 ** 6), ValueError, "would take"),
    (lambda: make_grid(_t(np.zeros((2, 3, 4, 4))), normalize=True, value_range=[0, 1]), TypeError, "value_range"),
])
def test_bad_arguments_get_one_sentence(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_save_image_writes_the_rounded_grid(tmp_path):
    x = RNG.random((3, 3, 4, 4)).astype(np.float32)
    save_image(_t(x), tmp_path / "grid.png", nrow=3, padding=1)
    saved = np.asarray(Image.open(tmp_path / "grid.png"))
    expected = np.clip(make_grid(_t(x), nrow=3, padding=1).numpy() * 255 + 0.5, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(saved, expected.transpose(1, 2, 0))


def test_save_image_refusals_leave_an_existing_file(tmp_path):
    target = tmp_path / "keep.png"
    target.write_bytes(b"the user's file")
    with pytest.raises(ValueError, match="unknown image extension"):
        save_image(_t(np.zeros((3, 2, 2))), tmp_path / "grid.xyz")
    with pytest.raises(ValueError, match="2 channels"):
        save_image(_t(np.zeros((2, 2, 4, 4))), target)
    with pytest.raises(TypeError, match="file path"):
        save_image(_t(np.zeros((3, 2, 2))), open(target, "rb"))
    assert target.read_bytes() == b"the user's file"


def test_same_as_torchvision():
    if importlib.util.find_spec("torchvision") is None:
        pytest.skip("torchvision is not installed")
    try:
        import torch
        from torchvision.utils import make_grid as reference
    except Exception as e:   # PyPI's torchvision fails to import beside a CPU build of torch
        pytest.skip(f"torchvision does not import: {e}")
    for shape in [(5, 3, 4, 6), (1, 3, 4, 4), (7, 1, 3, 5), (3, 5), (1, 3, 3)]:
        x = RNG.normal(size=shape).astype(np.float32)
        for kwargs in [{}, {"nrow": 3, "padding": 0}, {"normalize": True, "scale_each": True, "pad_value": 0.5},
                       {"normalize": True, "value_range": (-0.5, 0.5)}]:
            np.testing.assert_allclose(make_grid(_t(x), **kwargs).numpy(),
                                       reference(torch.from_numpy(x), **kwargs).numpy(), atol=1e-6)
