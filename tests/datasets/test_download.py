"""download=True against servers the tests run themselves: never the network."""

import functools
import http.server
import threading

import numpy as np
import pytest

import datasets
from helpers.dataset_files import cifar_files, write_cifar_tar, write_mnist
from datasets.download import md5_file


@pytest.fixture
def server(tmp_path):
    """An http server on 127.0.0.1 serving tmp_path/'served'; yields its URL."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", served
    httpd.shutdown()
    httpd.server_close()


def _mnist_resources(folder):
    return [(p.name, md5_file(p)) for p in sorted(folder.glob("*.gz"))]


def test_mnist_download_from_local_http_server(tmp_path, server, monkeypatch, capsys):
    url, served = server
    written = write_mnist(served)
    monkeypatch.setattr(datasets.MNIST, "mirrors", ["http://127.0.0.1:9/", url])  # first mirror is down
    monkeypatch.setattr(datasets.MNIST, "resources", _mnist_resources(served))
    root = tmp_path / "root"
    ds = datasets.MNIST(root, train=True, download=True)  # checksums match the (patched) official ones
    np.testing.assert_array_equal(ds.data, written["train"][0])
    assert sorted(p.name for p in (root / "mnist").iterdir()) == ["train-images-idx3-ubyte.gz",
                                                                  "train-labels-idx1-ubyte.gz"]
    assert "train-images-idx3-ubyte.gz" in capsys.readouterr().err  # the progress bar
    datasets.MNIST(root, train=False, download=True)
    assert len(list((root / "mnist").iterdir())) == 4


def test_download_from_file_url(tmp_path, monkeypatch):
    served = tmp_path / "served"
    write_mnist(served)
    monkeypatch.setattr(datasets.FashionMNIST, "mirrors", [served.as_uri() + "/"])
    monkeypatch.setattr(datasets.FashionMNIST, "resources", _mnist_resources(served))
    monkeypatch.setattr(datasets.FashionMNIST, "system_dirs", ())
    ds = datasets.FashionMNIST(tmp_path / "root", train=False, download=True)
    assert len(ds) == 5 and (tmp_path / "root" / "fashion-mnist" / "t10k-images-idx3-ubyte.gz").is_file()


def test_checksum_mismatch_is_rejected_and_leaves_nothing(tmp_path, server, monkeypatch):
    url, served = server
    write_mnist(served)
    monkeypatch.setattr(datasets.MNIST, "mirrors", [url])
    monkeypatch.setattr(datasets.MNIST, "resources", [(name, "0" * 32) for name, _ in _mnist_resources(served)])
    with pytest.raises(datasets.DatasetError, match=r"MD5 [0-9a-f]{32} instead of 0{32}"):
        datasets.MNIST(tmp_path / "root", download=True)
    assert list((tmp_path / "root" / "mnist").iterdir()) == []  # no .part, no partial file


def test_offline_message_names_urls_files_and_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.MNIST, "mirrors", ["http://127.0.0.1:9/", "http://127.0.0.1:9/mirror2/"])
    with pytest.raises(datasets.DatasetError) as e:
        datasets.MNIST(tmp_path, download=True)
    msg = str(e.value)
    assert "http://127.0.0.1:9/train-images-idx3-ubyte.gz" in msg
    assert "http://127.0.0.1:9/mirror2/train-images-idx3-ubyte.gz" in msg
    assert "train-labels-idx1-ubyte.gz" in msg and str((tmp_path / "mnist").resolve()) in msg
    assert "by hand" in msg


def test_http_404_is_reported(tmp_path, server, monkeypatch):
    url, _ = server
    monkeypatch.setattr(datasets.CIFAR10, "mirrors", [url])
    with pytest.raises(datasets.DatasetError, match=r"cifar-10-python.tar.gz \(HTTP 404\)"):
        datasets.CIFAR10(tmp_path / "root", download=True)


def test_cifar_download(tmp_path, server, monkeypatch):
    url, served = server
    archive = write_cifar_tar(served, cifar_files())
    monkeypatch.setattr(datasets.CIFAR10, "mirrors", [url])
    monkeypatch.setattr(datasets.CIFAR10, "tgz_md5", md5_file(archive))
    ds = datasets.CIFAR10(tmp_path / "root", train=False, download=True)
    assert len(ds) == 4 and (tmp_path / "root" / "cifar-10-python.tar.gz").is_file()


def test_existing_files_are_not_downloaded_again(tmp_path, monkeypatch):
    write_mnist(tmp_path / "mnist")
    monkeypatch.setattr(datasets.MNIST, "mirrors", ["http://127.0.0.1:9/"])
    with pytest.warns(datasets.ChecksumWarning):
        assert len(datasets.MNIST(tmp_path, download=True)) == 12
