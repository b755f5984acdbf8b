"""Image grids with captions, and feature-map / filter mosaics drawn with ImageItem
(explicit levels, so no per-frame autoscaling pass)."""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets


def to_qimage(img: np.ndarray) -> QtGui.QImage:
    """uint8 (H, W), (H, W, 1) or (H, W, 3) -> QImage (a deep copy)."""
    a = np.asarray(img)
    if a.dtype != np.uint8:
        lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
        a = ((a - lo) / (hi - lo + 1e-12) * 255).astype(np.uint8)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    a = np.ascontiguousarray(a)
    h, w = a.shape[:2]
    if a.ndim == 2:
        q = QtGui.QImage(a.data, w, h, a.strides[0], QtGui.QImage.Format_Grayscale8)
    else:
        q = QtGui.QImage(a.data, w, h, a.strides[0], QtGui.QImage.Format_RGB888)
    return q.copy()


def to_pixmap(img: np.ndarray, size: int) -> QtGui.QPixmap:
    q = to_qimage(img)
    return QtGui.QPixmap.fromImage(q.scaled(size, size, QtCore.Qt.KeepAspectRatio, QtCore.Qt.FastTransformation))


class _Thumb(QtWidgets.QLabel):
    """A thumbnail that says when it is clicked."""

    clicked = QtCore.Signal()

    def mousePressEvent(self, e):
        if e.button() == QtCore.Qt.LeftButton:
            self.clicked.emit()
        super().mousePressEvent(e)


class ImageGrid(QtWidgets.QWidget):
    """Thumbnails with a caption under each (e.g. class names, "7 → 1");
    ``clicked(i)`` when thumbnail i is clicked (a hand cursor over them when ``clickable``)."""

    clicked = QtCore.Signal(int)

    def __init__(self, columns: int = 8, size: int = 56, parent=None, clickable: bool = False):
        super().__init__(parent)
        self.columns, self.size, self.clickable = columns, size, clickable
        self._grid = QtWidgets.QGridLayout(self)
        self._grid.setSpacing(4)
        self._grid.setContentsMargins(2, 2, 2, 2)
        self._grid.setAlignment(QtCore.Qt.AlignTop | QtCore.Qt.AlignLeft)     # rows keep their height
        self.cells: list[QtWidgets.QLabel] = []
        self.count = 0

    def set_images(self, images, captions=(), colors=()) -> None:
        images = list(images) if images is not None else []
        while self._grid.count():
            w = self._grid.takeAt(0).widget()
            if w is not None:
                w.hide()                     # gone from the screen now, deleted when control returns to Qt
                w.deleteLater()
        self.cells = []
        for i, img in enumerate(images):
            cell = QtWidgets.QWidget()
            v = QtWidgets.QVBoxLayout(cell)
            v.setContentsMargins(0, 0, 0, 0)
            v.setSpacing(1)
            pic = _Thumb()
            pic.clicked.connect(lambda i=i: self.clicked.emit(i))
            if self.clickable:
                pic.setCursor(QtCore.Qt.PointingHandCursor)
            pic.setPixmap(to_pixmap(img, self.size))
            pic.setAlignment(QtCore.Qt.AlignCenter)
            pic.setFixedSize(self.size + 2, self.size + 2)
            pic.setStyleSheet("border: 1px solid #ccc; background: #000;")
            v.addWidget(pic)
            if i < len(captions):
                cap = QtWidgets.QLabel(str(captions[i]))
                cap.setAlignment(QtCore.Qt.AlignCenter)
                cap.setMaximumWidth(self.size + 24)
                color = colors[i] if i < len(colors) else None
                cap.setStyleSheet(f"font-size: 9pt; color: {color or '#222'};")
                v.addWidget(cap)
            self._grid.addWidget(cell, i // self.columns, i % self.columns)
            self.cells.append(pic)
        self.count = len(images)


def normalize_maps(maps: np.ndarray) -> np.ndarray:
    """(C, H, W) -> each channel scaled to [0, 1] on its own (flat channels go to 0)."""
    m = np.asarray(maps, np.float32)
    lo = m.min(axis=(1, 2), keepdims=True)
    hi = m.max(axis=(1, 2), keepdims=True)
    return (m - lo) / np.maximum(hi - lo, 1e-12)


def _normalize(v: np.ndarray) -> np.ndarray:
    lo, hi = float(v.min()), float(v.max())
    return (v - lo) / max(hi - lo, 1e-12)


def colorize(tile: np.ndarray, lut: np.ndarray, pad=(255, 255, 255)) -> np.ndarray:
    """A [0, 1] image (NaN between tiles) through a colour table -> uint8 RGB, the
    gaps in ``pad`` colour."""
    gaps = np.isnan(tile)
    idx = np.clip((np.nan_to_num(tile, nan=0.0) * (len(lut) - 1)).astype(np.int32), 0, len(lut) - 1)
    rgb = lut[idx][..., :3].astype(np.uint8)
    rgb[gaps] = pad
    return rgb


def mosaic(maps: np.ndarray, columns: int | None = None, pad: int = 1, fill: float = np.nan,
           max_tiles: int = 64) -> np.ndarray:
    """(C, H, W) -> one 2-D array tiling the channels in a grid (row-major), ``fill``
    between tiles. At most ``max_tiles`` channels are shown."""
    m = np.asarray(maps, np.float32)
    if m.ndim == 1:
        m = m[:, None, None]
    c, h, w = m.shape[:3]
    c = min(c, max_tiles)
    if h == 1 and w == 1:            # a vector: lay it out as a near-square image
        side = int(math.ceil(math.sqrt(c)))
        flat = np.full(side * side, fill, np.float32)
        flat[:c] = m[:c, 0, 0]
        return flat.reshape(side, side)
    cols = columns or int(math.ceil(math.sqrt(c)))
    rows = int(math.ceil(c / cols))
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad), fill, np.float32)
    for i in range(c):
        r, k = divmod(i, cols)
        out[r * (h + pad):r * (h + pad) + h, k * (w + pad):k * (w + pad) + w] = m[i]
    return out


def mosaic_tile(count: int, h: int, w: int, y: int, x: int, columns: int | None = None, pad: int = 1,
                max_tiles: int = 64) -> tuple[int, int, int] | None:
    """Which tile of :func:`mosaic`'s layout of ``count`` (h, w) tiles holds pixel (y, x):
    (tile index, row in it, column in it), or None for a gap or a pixel outside."""
    c = min(int(count), max_tiles)
    if y < 0 or x < 0 or c <= 0:
        return None
    if h == 1 and w == 1:
        side = int(math.ceil(math.sqrt(c)))
        i = y * side + x if x < side else c
        return (i, 0, 0) if i < c else None
    cols = columns or int(math.ceil(math.sqrt(c)))
    (r, dy), (k, dx) = divmod(y, h + pad), divmod(x, w + pad)
    i = r * cols + k
    return (i, dy, dx) if k < cols and dy < h and dx < w and i < c else None


def filters_rgb(weights: np.ndarray, pad: int = 1) -> np.ndarray:
    """First-layer filters (O, C, kh, kw) as one image: RGB when C == 3, else grey per
    input channel of the first output... each filter scaled to [0, 1] on its own."""
    w = np.asarray(weights, np.float32)
    o, c, kh, kw = w.shape
    flat = w.reshape(o, -1)
    lo, hi = flat.min(1)[:, None, None, None], flat.max(1)[:, None, None, None]
    w = (w - lo) / np.maximum(hi - lo, 1e-12)
    if c == 3:
        cols = int(math.ceil(math.sqrt(o)))
        rows = int(math.ceil(o / cols))
        out = np.ones((rows * (kh + pad) - pad, cols * (kw + pad) - pad, 3), np.float32)
        for i in range(o):
            r, k = divmod(i, cols)
            out[r * (kh + pad):r * (kh + pad) + kh, k * (kw + pad):k * (kw + pad) + kw] = np.moveaxis(w[i], 0, -1)
        return out
    return mosaic(w[:, 0], fill=1.0)


def kernel_grid(weight: np.ndarray, mode="all", max_out: int = 64, max_in: int = 64, max_tiles: int = 256,
                pad: int = 1) -> np.ndarray:
    """A convolution's weight (out, in, kh, kw) as one float32 2-D image of its values, NaN
    between tiles. ``mode`` "all": every kernel, row o and column i holding kernel
    weight[o, i] (the first ``max_out`` outputs and ``max_in`` inputs); "mean": each
    output's kernel averaged over its inputs; a whole number k: each output's kernel
    for input channel k. The last two tile the outputs in a near-square grid (at most
    ``max_tiles``). ValueError naming ``mode`` or the weight's shape when they do not fit."""
    w = np.asarray(weight, np.float32)
    if w.ndim != 4 or 0 in w.shape:
        raise ValueError(f"a convolution's weight is (out, in, kh, kw), got shape {w.shape}")
    o, c, kh, kw = w.shape
    if isinstance(mode, str):
        if mode == "mean":
            return mosaic(w.mean(axis=1), pad=pad, max_tiles=max_tiles)
        if mode != "all":
            raise ValueError(f"mode must be 'all', 'mean' or an input channel, got {mode!r}")
        o, c = min(o, max_out), min(c, max_in)
        out = np.full((o * (kh + pad) - pad, c * (kw + pad) - pad), np.nan, np.float32)
        for r in range(o):
            for k in range(c):
                out[r * (kh + pad):r * (kh + pad) + kh, k * (kw + pad):k * (kw + pad) + kw] = w[r, k]
        return out
    if isinstance(mode, bool) or not isinstance(mode, (int, np.integer)) or not 0 <= mode < c:
        raise ValueError(f"input channel must be a whole number in [0, {c}), got {mode!r}")
    return mosaic(w[:, int(mode)], pad=pad, max_tiles=max_tiles)


def symmetric_levels(values: np.ndarray) -> tuple[float, float]:
    """(-m, m): m the largest magnitude of the finite ``values`` (1 when there is none), so
    0 sits in the middle of a diverging colour table."""
    v = np.asarray(values, np.float64)
    v = np.abs(v[np.isfinite(v)])
    m = float(v.max()) if v.size and v.max() > 0 else 1.0
    return -m, m


DIVERGING = pg.ColorMap([0.0, 0.5, 1.0], [(33, 102, 172), (247, 247, 247), (178, 24, 43)])


class MosaicView(pg.GraphicsLayoutWidget):
    """One titled 2-D float image (a mosaic of maps or kernels, NaN gaps drawn as the
    white background) through a colour table: ``show_image(image, levels, title)``;
    ``image`` keeps the array shown. ``describe(y, x)``, when set, names the pixel under
    the mouse (its tooltip); "" for none."""

    def __init__(self, colormap: pg.ColorMap, parent=None):
        super().__init__(parent=parent)
        self.setBackground("w")
        self.title = self.addLabel("", color="#222", size="10pt")
        self.nextRow()
        self._vb = self.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self._vb.setMouseEnabled(False, False)
        self.item = pg.ImageItem(axisOrder="row-major")
        self.item.setLookupTable(colormap.getLookupTable(0.0, 1.0, 256))
        self._vb.addItem(self.item)
        self.image: np.ndarray | None = None
        self.describe = None
        self.scene().sigMouseMoved.connect(self._hover)

    def tip_at(self, y: int, x: int) -> str:
        """What ``describe`` says of pixel (y, x) of the image shown ("" outside it)."""
        if self.image is None or self.describe is None or not (0 <= y < self.image.shape[0]
                                                               and 0 <= x < self.image.shape[1]):
            return ""
        return self.describe(int(y), int(x))

    def _hover(self, pos) -> None:
        p = self.item.mapFromScene(pos)
        self.setToolTip(self.tip_at(math.floor(p.y()), math.floor(p.x())))

    def show_image(self, image: np.ndarray, levels: tuple[float, float], title: str) -> None:
        self.image = np.asarray(image, np.float32)
        self.item.setImage(self.image, levels=levels, autoLevels=False)
        self.title.setText(title, color="#222", size="10pt")
        self._vb.autoRange(padding=0.02)

    def clear_image(self, title: str = "") -> None:
        self.image = None
        self.item.clear()
        self.title.setText(title, color="#222", size="10pt")


class MapsView(pg.GraphicsLayoutWidget):
    """One titled ImageItem per layer (each a mosaic of that layer's channels), laid out
    in a grid; ``set_maps({name: (C, H, W)})`` refreshes them with explicit levels."""

    def __init__(self, columns: int = 3, parent=None):
        super().__init__(parent=parent)
        self.setBackground("w")
        self.columns = columns
        self.items: dict[str, pg.ImageItem] = {}
        self._names: list[str] = []
        self.cmap = pg.colormap.get("viridis")
        lut = self.cmap.getLookupTable(0.0, 1.0, 256)
        self._lut = lut

    def set_maps(self, maps: dict, rgb: dict | None = None) -> None:
        names = list(maps)
        if names != self._names:
            self.clear()
            self.items = {}
            for i, name in enumerate(names):
                if i and i % self.columns == 0:
                    self.nextRow()
                sub = self.addLayout()
                label = sub.addLabel(self._title(name, maps[name]), row=0, col=0, color="#222", size="9pt")
                vb = sub.addViewBox(row=1, col=0, lockAspect=True, invertY=True, enableMenu=False)
                vb.setMouseEnabled(False, False)
                vb.setBorder(pg.mkPen("#ddd"))
                img = pg.ImageItem(axisOrder="row-major")
                vb.addItem(img)
                img._label = label
                img._vb = vb
                self.items[name] = img
            self._names = names
        for name, m in maps.items():
            img = self.items[name]
            m = np.asarray(m, np.float32)
            if m.ndim == 3 and m.shape[-1] == 3 and name in (rgb or {}):
                img.setImage(m, levels=(0.0, 1.0), autoLevels=False)
            else:
                tile = mosaic(normalize_maps(m) if m.ndim == 3 else _normalize(m.reshape(-1)))
                img.setImage(colorize(tile, self._lut), levels=(0, 255), autoLevels=False)
            img._vb.autoRange(padding=0.02)
            img._label.setText(self._title(name, m), color="#222", size="9pt")

    @staticmethod
    def _title(name, m) -> str:
        shape = "×".join(str(s) for s in np.shape(m))
        return f"{name}  {shape}"

    def image_count(self) -> int:
        return sum(1 for img in self.items.values() if img.image is not None)
