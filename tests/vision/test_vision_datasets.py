"""engine.vision.datasets: torchvision's names, signatures and folder layouts over the
readers of the top-level datasets package; download=True never reaches the network when
the files are there; unsupported datasets say what to use instead."""
import gzip

import numpy as np
import pytest
from PIL import Image

import datasets.download
import engine
import engine.vision as torchvision
from engine.vision import datasets as vd
from engine.vision import transforms
from helpers import dataset_files

pytestmark = pytest.mark.filterwarnings("ignore::datasets.ChecksumWarning")


@pytest.fixture
def offline(monkeypatch):
    """Any download attempt fails the test."""
    def refuse(url, *args, **kwargs):
        raise AssertionError(f"tried to download {url}")
    monkeypatch.setattr(datasets.download, "fetch", refuse)


def test_the_readers_are_reexported_not_copied():
    import datasets as readers
    assert vd.MNIST is readers.MNIST and vd.FashionMNIST is readers.FashionMNIST and vd.CIFAR10 is readers.CIFAR10
    assert issubclass(vd.ImageFolder, readers.ImageFolder)


@pytest.mark.parametrize("cls, folder", [(vd.MNIST, "MNIST/raw"), (vd.FashionMNIST, "FashionMNIST/raw")])
@pytest.mark.parametrize("gz", [True, False])
def test_mnist_in_torchvision_layout(tmp_path, offline, cls, folder, gz):
    arrays = dataset_files.write_mnist(tmp_path / folder, n_train=6, n_test=3, gz=gz)
    train = cls(root=str(tmp_path), train=True, download=True)
    test = cls(tmp_path, False, None, None, True)   # torchvision's positional order
    images, labels = arrays["train"]
    np.testing.assert_array_equal(train.data, images)
    np.testing.assert_array_equal(train.targets, labels)
    assert len(test) == 3
    img, target = train[2]
    assert isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.shape == (28, 28)
    assert type(target) is int and target == labels[2]


def test_mnist_extracted_beside_gz_as_torchvision_leaves_it(tmp_path, offline):
    raw = tmp_path / "MNIST" / "raw"
    arrays = dataset_files.write_mnist(raw, n_train=4, n_test=2, gz=True)
    for gz in raw.glob("*.gz"):
        gz.with_suffix("").write_bytes(gzip.decompress(gz.read_bytes()))
    np.testing.assert_array_equal(vd.MNIST(tmp_path, download=True).data, arrays["train"][0])


def test_cifar10_in_torchvision_layout(tmp_path, offline):
    files = dataset_files.py2_cifar_files(n_per_batch=4)
    dataset_files.write_cifar_folder(tmp_path, files)
    train = vd.CIFAR10(root=tmp_path, train=True, download=True)
    data, labels = dataset_files.expected_cifar(files, [f"data_batch_{k}" for k in range(1, 6)])
    np.testing.assert_array_equal(train.data, data)
    np.testing.assert_array_equal(train.targets, labels)
    assert train.classes == dataset_files.CIFAR_CLASSES
    assert len(vd.CIFAR10(tmp_path, train=False, download=True)) == 4


def test_a_sample_through_transforms_is_a_tensor_and_an_int(tmp_path):
    dataset_files.write_cifar_folder(tmp_path, dataset_files.py2_cifar_files(n_per_batch=4))
    transform = transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(),
                                    transforms.ToTensor(), transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])
    ds = vd.CIFAR10(tmp_path, train=True, transform=transform, target_transform=lambda t: 9 - t)
    img, target = ds[5]
    assert isinstance(img, engine.Tensor) and img.shape == (3, 32, 32) and img.dtype == np.float32
    assert type(target) is int and target == 9 - int(ds.targets[5])
    assert -1 - 1e-6 <= float(img.min()) and float(img.max()) <= 1 + 1e-6


def test_missing_files_without_download_name_the_folder(tmp_path):
    with pytest.raises(datasets.DatasetError, match="MNIST/raw"):
        vd.MNIST(tmp_path, train=True)


def _write_folder(root, sizes):
    for k, (cls, size) in enumerate(sizes):
        (root / cls).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((*size, 3), 40 * k, np.uint8)).save(root / cls / f"{k}.png")


def test_image_folder_has_torchvision_signature(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMBACNN_CACHE", str(tmp_path / "cache"))
    _write_folder(tmp_path / "imgs", [("cat", (8, 8)), ("dog", (8, 8)), ("dog", (8, 8))])
    ds = vd.ImageFolder(str(tmp_path / "imgs"), transforms.ToTensor(), lambda t: t + 10)
    assert ds.classes == ["cat", "dog"] and ds.class_to_idx == {"cat": 0, "dog": 1}
    img, target = ds[2]
    assert isinstance(img, engine.Tensor) and img.shape == (3, 8, 8) and target == 11
    assert ds.imgs == ds.samples and [t for _, t in ds.samples] == [0, 1, 1]


def test_image_folder_resizes_with_size_in_place_of_transforms_resize(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMBACNN_CACHE", str(tmp_path / "cache"))
    _write_folder(tmp_path / "imgs", [("a", (8, 8)), ("b", (12, 6))])
    with pytest.raises(datasets.DatasetError, match="size="):
        vd.ImageFolder(tmp_path / "imgs")
    assert vd.ImageFolder(tmp_path / "imgs", size=(5, 4)).data.shape == (2, 5, 4, 3)


@pytest.mark.parametrize("kwargs, word", [({"loader": Image.open}, "loader"),
                                          ({"is_valid_file": bool}, "is_valid_file"),
                                          ({"allow_empty": True}, "allow_empty")])
def test_image_folder_refuses_what_it_does_not_do(tmp_path, kwargs, word):
    with pytest.raises(NotImplementedError, match=f"ImageFolder\\({word}=...\\) is not supported"):
        vd.ImageFolder(tmp_path, **kwargs)


@pytest.mark.parametrize("name, advice", [("CIFAR100", "ImageFolder"), ("SVHN", "ImageFolder"),
                                          ("FakeData", "TensorDataset"), ("DatasetFolder", "ImageFolder")])
def test_other_datasets_say_what_to_use(name, advice):
    with pytest.raises(NotImplementedError, match=f"torchvision.datasets.{name} is not supported.*{advice}"):
        getattr(torchvision.datasets, name)("./data", train=True, download=True)


def test_absent_torchvision_modules_name_their_replacement():
    with pytest.raises(AttributeError, match="engine.models"):
        torchvision.models.resnet18()
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        torchvision.nothing
