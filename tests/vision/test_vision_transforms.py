"""engine.vision.transforms in torchvision's order: batch-wise in the DataLoader, a Tensor
per sample (as torchvision's ToTensor gives), the same values either way; torchvision
names not implemented say what to use instead."""
import numpy as np
import pytest

import engine
from datasets import VisionDataset
from engine.utils.data import DataLoader
from engine.vision import transforms

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.247, 0.243, 0.261)
IMAGES = np.random.default_rng(0).integers(0, 256, (10, 32, 32, 3), dtype=np.uint8)
TARGETS = np.arange(10) % 3


def _dataset(transform):
    return VisionDataset(IMAGES, TARGETS, ["a", "b", "c"], transform=transform)


def _expected(images):
    """ToTensor then Normalize, in float64."""
    x = images.transpose(0, 3, 1, 2) / 255.0
    return (x - np.array(MEAN)[:, None, None]) / np.array(STD)[:, None, None]


def test_a_sample_is_a_tensor_image_and_an_int_target():
    ds = _dataset(transforms.Compose([transforms.ToTensor(), transforms.Normalize(MEAN, STD)]))
    img, target = ds[3]
    assert isinstance(img, engine.Tensor) and img.shape == (3, 32, 32) and img.dtype == np.float32
    assert type(target) is int and target == TARGETS[3]
    np.testing.assert_allclose(img.numpy(), _expected(IMAGES[3:4])[0], atol=1e-5)


def test_per_sample_and_batch_paths_agree():
    pipeline = [transforms.ToTensor(), transforms.Normalize(MEAN, STD)]
    fast = DataLoader(_dataset(transforms.Compose(pipeline)), batch_size=4)
    # a Lambda makes the loader read the dataset sample by sample
    slow = DataLoader(_dataset(transforms.Compose(pipeline + [transforms.Lambda(lambda t: t)])), batch_size=4)
    assert len(fast) == len(slow) == 3
    for (xf, yf), (xs, ys) in zip(fast, slow):
        assert isinstance(xs, engine.Tensor) and xs.dtype == np.float32
        np.testing.assert_allclose(xs.numpy(), xf.numpy(), atol=1e-6)
        np.testing.assert_array_equal(ys.numpy(), yf.numpy())
    x, _ = next(iter(fast))
    np.testing.assert_allclose(x.numpy(), _expected(IMAGES[:4]), atol=1e-5)


@pytest.mark.parametrize("per_sample", [False, True])
def test_random_crop_with_padding_before_to_tensor(per_sample):
    steps = [transforms.RandomCrop(32, padding=4), transforms.ToTensor()]
    if per_sample:
        steps.append(transforms.Lambda(lambda t: t))
    x, _ = next(iter(DataLoader(_dataset(transforms.Compose(steps)), batch_size=10, seed=3)))
    assert x.shape == (10, 3, 32, 32)
    padded = np.pad(IMAGES.transpose(0, 3, 1, 2) / np.float32(255), ((0, 0), (0, 0), (4, 4), (4, 4)))
    offsets = set()
    for n, sample in enumerate(x.numpy()):
        hits = [(i, j) for i in range(9) for j in range(9)
                if np.allclose(padded[n, :, i:i + 32, j:j + 32], sample, atol=1e-6)]
        assert hits, f"sample {n} is no 32 x 32 window of its zero-padded image"
        offsets.add(hits[0])
    assert len(offsets) > 1   # the windows are drawn per sample


def test_normalize_before_to_tensor_is_refused():
    with pytest.raises(TypeError, match="put ToTensor"):
        transforms.Compose([transforms.Normalize(MEAN, STD), transforms.ToTensor()])(IMAGES[0])


def test_torchvision_arguments_at_their_defaults_are_accepted():
    transforms.ColorJitter(0.4, 0.4, 0.4, hue=0)
    assert transforms.RandomErasing(p=1, inplace=True).inplace is True
    with pytest.raises(NotImplementedError, match="hue"):
        transforms.ColorJitter(0.4, 0.4, 0.4, 0.1)


@pytest.mark.parametrize("name, advice", [("Resize", "ImageFolder"), ("CenterCrop", "RandomCrop"),
                                          ("RandomVerticalFlip", "RandomHorizontalFlip"),
                                          ("RandomRotation", "RandomCrop"), ("ToPILImage", "fromarray")])
def test_unsupported_transforms_say_what_to_use(name, advice):
    from engine.vision.transforms import __all__ as names
    assert name in names
    with pytest.raises(NotImplementedError, match=f"torchvision.transforms.{name} is not supported.*{advice}"):
        getattr(transforms, name)(32)


def test_lambda():
    double = transforms.Lambda(lambda t: t * 2)
    assert double(3) == 6 and repr(double) == "Lambda(<lambda>)"
    with pytest.raises(TypeError, match="Lambda needs a callable"):
        transforms.Lambda(3)
