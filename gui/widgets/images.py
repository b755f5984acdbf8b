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


class ImageGrid(QtWidgets.QWidget):
    """Thumbnails with a caption under each (e.g. class names, "7 → 1")."""

    def __init__(self, columns: int = 8, size: int = 56, parent=None):
        super().__init__(parent)
        self.columns, self.size = columns, size
        self._grid = QtWidgets.QGridLayout(self)
        self._grid.setSpacing(4)
        self._grid.setContentsMargins(2, 2, 2, 2)
        self.cells: list[QtWidgets.QLabel] = []
        self.count = 0

    def set_images(self, images, captions=(), colors=()) -> None:
        images = list(images) if images is not None else []
        while self._grid.count():
            w = self._grid.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        self.cells = []
        for i, img in enumerate(images):
            cell = QtWidgets.QWidget()
            v = QtWidgets.QVBoxLayout(cell)
            v.setContentsMargins(0, 0, 0, 0)
            v.setSpacing(1)
            pic = QtWidgets.QLabel()
            pic.setPixmap(to_pixmap(img, self.size))
            pic.setAlignment(QtCore.Qt.AlignCenter)
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
