"""A dataset definition, as DIGITS makes datasets: a folder of class folders
(or a .tar/.tar.gz/.zip of one), the size, resize mode and colour its images
are brought to, a per-class train/validation split drawn with a fixed seed,
and the classes it was made with -- saved as a small JSON file that later
runs open by its path (``datasets.get("flowers.json")``, ``--dataset
flowers.json``).

    d = create("photos/", size=(64, 64), resize="crop", color="grayscale", val_fraction=0.2)
    d.save("flowers.json")                     # never over an existing file
    train, val = d.open(train=True), d.open(train=False)

The file, UTF-8 JSON of at most ``MAX_BYTES``::

    {"format": "numbacnn-dataset", "version": 1, "source": "/abs/path/photos",
     "size": [64, 64], "resize": "crop", "color": "grayscale", "val_fraction": 0.2,
     "seed": 0, "classes": ["daisy", "rose"], "counts": [120, 98]}

source: absolute, or relative to the file's folder; size: [height, width];
resize: squash | crop | fill (see ``folder.fit``); color: color | grayscale;
counts: images per class when it was made (the file listing, nothing decoded).
"""

import json
import math
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import limits
from .errors import DatasetError
from .files import printable, read_file, write_atomic
from .archive import ImageFiles
from .folder import RESIZE_MODES, ImageFolder, class_files, decode_image
from .split import held_count, holdout

FORMAT, VERSION = "numbacnn-dataset", 1
MAX_BYTES = 1 << 20
SUFFIX = ".json"
COLORS = ("color", "grayscale")
RESIZE_TITLES = {"squash": "squash", "crop": "centre crop", "fill": "fill (letterbox)"}
MAX_SIDE = math.isqrt(limits.MAX_IMAGE_PIXELS)
MAX_SEED = 2**32 - 1
EXAMPLES = 12      # a scan keeps the first image of at most this many classes, for a preview
_KEYS = ("source", "size", "resize", "color", "val_fraction", "seed", "classes", "counts")


@dataclass
class DatasetDefinition:
    """What a dataset is made of (see the module's docstring for each field).
    path: the file it was loaded from or saved to ("" before), not saved in it."""

    source: str
    size: tuple
    resize: str = "squash"
    color: str = "color"
    val_fraction: float = 0.1
    seed: int = 0
    classes: list = field(default_factory=list)
    counts: list = field(default_factory=list)
    path: str = field(default="", compare=False)

    @property
    def name(self) -> str:
        """The file's name without ``.json`` ("" before it is saved)."""
        return Path(self.path).stem

    def checked(self, where="dataset definition"):
        """This definition with every field checked (tuples and floats
        normalised); DatasetError naming ``where`` and the field otherwise."""
        source = self.source
        if not isinstance(source, str) or not source:
            _bad(where, "source", "a folder or archive path", source)
        size = tuple(self.size) if isinstance(self.size, (list, tuple)) else None
        if size is None or len(size) != 2 or not all(_whole(v, 1, MAX_SIDE) for v in size):
            _bad(where, "size", f"[height, width], two whole numbers from 1 to {MAX_SIDE}", self.size)
        if self.resize not in RESIZE_MODES:
            _bad(where, "resize", f"one of {', '.join(RESIZE_MODES)}", self.resize)
        if self.color not in COLORS:
            _bad(where, "color", f"one of {', '.join(COLORS)}", self.color)
        f = self.val_fraction
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 < f < 1:
            _bad(where, "val_fraction", "a number more than 0 and less than 1", f)
        if not _whole(self.seed, 0, MAX_SEED):
            _bad(where, "seed", f"a whole number from 0 to {MAX_SEED}", self.seed)
        classes = self.classes
        if (not isinstance(classes, list) or len(classes) < 2 or len(set(map(str, classes))) != len(classes)
                or not all(isinstance(c, str) and c for c in classes)):
            _bad(where, "classes", "a list of two or more different class names", classes)
        counts = self.counts
        if not isinstance(counts, list) or len(counts) != len(classes) or not all(_whole(n, 0) for n in counts):
            _bad(where, "counts", f"a list of {len(classes)} whole numbers (images per class)", counts)
        return DatasetDefinition(source, size, self.resize, self.color, float(f), self.seed, list(classes),
                                 list(counts), self.path)

    def to_json(self) -> dict:
        """The JSON object of the file (format, version, then the fields)."""
        d = self.checked()
        return {"format": FORMAT, "version": VERSION, "source": d.source, "size": list(d.size),
                "resize": d.resize, "color": d.color, "val_fraction": d.val_fraction, "seed": d.seed,
                "classes": d.classes, "counts": d.counts}

    def save(self, path) -> "DatasetDefinition":
        """Writes the definition to ``path`` (``.json``) atomically, never over
        an existing file; returns it with ``path`` set. DatasetError naming
        the file when it exists or cannot be written."""
        path = Path(path).expanduser()
        if path.suffix != SUFFIX:
            raise DatasetError(f"{printable(path)}: a dataset definition's file name ends in {SUFFIX}")
        text = json.dumps(self.to_json(), indent=1, ensure_ascii=False).encode("utf-8")
        try:
            write_atomic(path, lambda f: f.write(text), replace=False)
        except FileExistsError:
            raise DatasetError(f"{printable(path)}: a file of that name already exists; choose another name") from None
        except OSError as e:
            raise DatasetError(f"{printable(path)}: cannot be written ({e.strerror or e})") from None
        return replace(self.checked(), path=str(path))

    def open(self, train=True, transform=None, target_transform=None):
        """The training (``train``) or validation part of the dataset: its
        images decoded as the definition says (``ImageFolder``, cached) and
        split per class with the definition's seed (``split.holdout``).
        DatasetError when the source is gone, its classes are no longer the
        definition's, or the reader refuses an image."""
        where = printable(self.path or "dataset definition")
        source = Path(self.source)
        if not source.exists():
            raise DatasetError(f"{where}: its images were in {printable(source)}, which no longer exists: put "
                               f"them back there, or create the dataset again")
        ds = ImageFolder(source, transform, size=self.size, grayscale=self.color == "grayscale",
                         target_transform=target_transform, resize=self.resize)
        if ds.classes != self.classes:
            raise DatasetError(f"{where}: {printable(source)} now has the classes {_names(ds.classes)}, not the "
                               f"{_names(self.classes)} the dataset was made with: create the dataset again")
        return holdout(ds, train, self.val_fraction, self.seed)

    def parts(self) -> tuple:
        """(training, validation) images the split gives, from the counts."""
        held = sum(held_count(n, self.val_fraction) for n in self.counts)
        return sum(self.counts) - held, held

    def summary(self) -> str:
        """One line for the user: size, resize, colour, classes, images, split, source."""
        h, w = self.size
        return (f"{h}×{w} {RESIZE_TITLES[self.resize]}, {'grayscale' if self.color == 'grayscale' else 'colour'}, "
                f"{len(self.classes)} classes, {sum(self.counts):,} images, {self.val_fraction:.0%} validation, "
                f"from {self.source}")


@dataclass
class Scan:
    """What a folder or archive of class folders holds, from its file listing
    alone: source (absolute path), classes (sorted), counts (images per
    class), examples [(class, relative name, bytes)]: the first image of each
    of the first ``EXAMPLES`` classes, read but not decoded."""

    source: str
    classes: list
    counts: list
    examples: list = field(default_factory=list, repr=False)

    def definition(self, size, resize="squash", color="color", val_fraction=0.1, seed=0) -> DatasetDefinition:
        """A new (unsaved) definition of this source with these settings;
        DatasetError when it has fewer than two classes or a setting is out
        of range."""
        if len(self.classes) < 2:
            raise DatasetError(f"{printable(self.source)}: only one class folder ({self.classes[0]}): a classifier "
                               f"needs images of at least two classes, each in a folder named after the class")
        return DatasetDefinition(self.source, size, resize, color, val_fraction, seed, list(self.classes),
                                 list(self.counts)).checked(printable(self.source))

    def preview(self, size, resize="squash", color="color") -> list:
        """[(class, uint8 (h, w) or (h, w, 3))]: the examples as a dataset of
        these settings would hold them; DatasetError for one that does not decode."""
        grayscale = color == "grayscale"
        return [(label, decode_image(self.source, name, blob, tuple(size), grayscale, resize, limits.decoded_budget()))
                for label, name, blob in self.examples]


def scan(source, examples=EXAMPLES) -> Scan:
    """The ``Scan`` of the folder or archive ``source`` (nothing decoded);
    DatasetError when it is missing, unreadable or has no class subfolders."""
    path = Path(source).expanduser()
    if not path.exists():
        raise DatasetError(f"{printable(path)}: no such folder or archive")
    with ImageFiles(path) as files:
        names, labels = class_files(files, path)
        first = {}
        for name, label in zip(names, labels):
            if label not in first and len(first) < examples:
                first[label] = name
        kept = [(label, name, files.read(name)) for label, name in first.items()]
    counts = Counter(labels)
    classes = sorted(counts)
    return Scan(str(path.resolve()), classes, [counts[c] for c in classes], kept)


def create(source, size, resize="squash", color="color", val_fraction=0.1, seed=0) -> DatasetDefinition:
    """A new (unsaved) definition of the folder or archive ``source``, its
    classes and per-class counts read from the file listing (``scan``).
    DatasetError when the source is missing, has fewer than two class folders,
    or a setting is out of range."""
    return scan(source, examples=0).definition(size, resize, color, val_fraction, seed)


def load(path) -> DatasetDefinition:
    """The definition saved in the file ``path``; DatasetError naming the file
    and what is wrong (not JSON, not a definition, a field out of range)."""
    path = Path(path).expanduser()
    where = printable(path)
    blob = read_file(path, limit=MAX_BYTES)
    try:
        obj = json.loads(blob.decode("utf-8"))
    except UnicodeDecodeError:
        raise DatasetError(f"{where}: not a dataset definition (not UTF-8 text)") from None
    except json.JSONDecodeError as e:
        raise DatasetError(f"{where}: not a dataset definition (not valid JSON: {e.msg} at line {e.lineno})") from None
    except ValueError as e:  # a number of more digits than Python converts
        raise DatasetError(f"{where}: not a dataset definition ({e})") from None
    except RecursionError:
        raise DatasetError(f"{where}: not a dataset definition (JSON nested too deeply)") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise DatasetError(f"{where}: not a dataset definition (no \"format\": \"{FORMAT}\")")
    if obj.get("version") != VERSION:
        raise DatasetError(f"{where}: dataset definition version {obj.get('version')!r}; this numbacnn reads "
                           f"version {VERSION}")
    missing = [k for k in _KEYS if k not in obj]
    if missing:
        raise DatasetError(f"{where}: the dataset definition has no {', '.join(missing)}")
    fields = {k: obj[k] for k in _KEYS}
    if isinstance(fields["source"], str) and fields["source"]:
        fields["source"] = str(path.parent / Path(fields["source"]).expanduser())
    return DatasetDefinition(**fields, path=str(path)).checked(where)


def saved(folder) -> list:
    """[(path, DatasetDefinition or the DatasetError that loading it raised)]
    of the ``.json`` files in ``folder``, sorted by name; [] when the folder
    does not exist or cannot be listed."""
    try:
        paths = sorted(p for p in Path(folder).expanduser().iterdir() if p.suffix == SUFFIX and not p.name.startswith("."))
    except OSError:
        return []
    out = []
    for path in paths:
        try:
            out.append((path, load(path)))
        except DatasetError as e:
            out.append((path, e))
    return out


def file_for(folder, name) -> Path:
    """The file of the definition called ``name`` in ``folder``; DatasetError
    when ``name`` cannot be a file name (empty, hidden, with a separator)."""
    text = str(name).strip()
    if not text or text.startswith(".") or any(c in text for c in "/\\:\0") or len(text) > 100:
        raise DatasetError(f"dataset name {text!r}: use 1 to 100 characters, not starting with '.', without / \\ :")
    return Path(folder).expanduser() / f"{text}{SUFFIX}"


def is_definition(path) -> bool:
    """Whether ``path`` names a dataset definition file (an existing ``.json`` file)."""
    path = Path(path).expanduser()
    return path.suffix == SUFFIX and path.is_file()


def _whole(v, lo, hi=None) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= lo and (hi is None or v <= hi)


def _names(classes) -> str:
    shown = ", ".join(classes[:6]) + (f" (+{len(classes) - 6} more)" if len(classes) > 6 else "")
    return f"[{shown}]"


def _bad(where, key, wanted, value):
    text = repr(value)
    raise DatasetError(f"{where}: {key} must be {wanted}, got {text[:80] + '...' if len(text) > 80 else text}")
