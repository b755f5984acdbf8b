"""Image files from a folder tree or a .tar / .tar.gz / .zip of one."""

import gzip
import io
import os
import tarfile
import zipfile
import zlib
from pathlib import Path

from .errors import DatasetError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".zip")


def is_archive(path):
    return Path(path).name.lower().endswith(ARCHIVE_SUFFIXES)


def _clean(name):
    """An archive member name without empty or "." components."""
    return "/".join(p for p in name.replace("\\", "/").split("/") if p not in ("", "."))


def _wanted(name):
    """An image file, not hidden and not macOS resource-fork litter."""
    return (name.lower().endswith(IMAGE_EXTENSIONS)
            and not any(p.startswith(".") or p == "__MACOSX" for p in name.split("/")))


def read_images(source):
    """[(relative name with '/' separators, file bytes)] of every image file
    under ``source`` (a folder or an archive), sorted by name."""
    source = Path(source)
    if source.is_dir():
        files = []
        for folder, dirs, names in os.walk(source):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in names:
                path = Path(folder) / name
                rel = path.relative_to(source).as_posix()
                if _wanted(rel):
                    files.append((rel, path))
        files.sort()
        out = []
        for rel, path in files:
            try:
                out.append((rel, path.read_bytes()))
            except OSError as e:
                raise DatasetError(f"{path}: cannot be read ({e.strerror or e})") from None
        return out
    if not source.is_file():
        raise DatasetError(f"{source}: no such folder or archive")
    name = source.name.lower()
    try:
        if name.endswith(".zip"):
            with zipfile.ZipFile(source) as zf:
                out = [(_clean(i.filename), zf.read(i)) for i in zf.infolist()
                       if not i.is_dir() and _wanted(_clean(i.filename))]
        elif name.endswith((".tar", ".tar.gz", ".tgz")):
            # a gzipped tar is inflated in memory first: tarfile reads members
            # through gzip twice as slowly, and the images are held anyway
            fileobj = io.BytesIO(gzip.decompress(source.read_bytes())) if name.endswith("gz") else None
            with tarfile.open(source, "r:", fileobj=fileobj) as tar:
                out = [(_clean(m.name), tar.extractfile(m).read()) for m in tar
                       if m.isfile() and _wanted(_clean(m.name))]
        else:
            raise DatasetError(f"{source}: not a folder or a {', '.join(ARCHIVE_SUFFIXES)} archive")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, OSError) as e:
        raise DatasetError(f"{source}: not a readable archive ({e})") from None
    out.sort()
    return out
