"""Downloading dataset files: mirrors in turn, MD5 checked, written to a
``.part`` file and renamed only when complete."""

import hashlib
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from .errors import DatasetError

TIMEOUT = 30  # seconds without data before a mirror counts as unreachable
CHUNK = 1 << 20


def md5_bytes(data):
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def md5_file(path):
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(url, dest, md5=None, progress=True):
    """Download ``url`` to ``dest`` via ``dest.part``; raise OSError on a
    network failure or ValueError when the MD5 differs from ``md5``."""
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response, open(part, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            for chunk in iter(lambda: response.read(CHUNK), b""):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress:
                    _progress_bar(dest.name, done, total)
        if progress:
            sys.stderr.write("\n")
        if md5 is not None and digest.hexdigest() != md5:
            raise ValueError(f"MD5 {digest.hexdigest()} instead of {md5}")
        os.replace(part, dest)
    finally:
        if part.exists():
            part.unlink()


def _progress_bar(name, done, total, width=30):
    if total:
        filled = int(width * done / total)
        bar = f"[{'#' * filled}{' ' * (width - filled)}] {100 * done // total:3d}%"
        sys.stderr.write(f"\r{name}: {done / 1e6:.1f}/{total / 1e6:.1f} MB {bar}")
    else:
        sys.stderr.write(f"\r{name}: {done / 1e6:.1f} MB")
    sys.stderr.flush()


def _reason(error):
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code}"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return str(error) or type(error).__name__


def fetch_missing(name, files, mirrors, folder, progress=True):
    """Download each ``(filename, md5)`` of ``files`` not yet in ``folder``
    from the first of ``mirrors`` (URL prefixes) that delivers it intact.

    Raises DatasetError naming every URL tried, why it failed, and the files
    to place in ``folder`` by hand.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    failures = []
    for filename, md5 in files:
        dest = folder / filename
        if dest.exists():
            continue
        for mirror in mirrors:
            url = mirror + filename
            try:
                fetch(url, dest, md5, progress)
                break
            except (OSError, ValueError) as e:
                failures.append(f"{url} ({_reason(e)})")
        else:
            names = ", ".join(f for f, _ in files)
            raise DatasetError(f"could not download {name}: tried {'; '.join(failures)}; "
                               f"without a network, place {names} in {folder.resolve()}/ by hand")
