"""Explain tab (issue 18, in the spirit of CNN Explainer): a conv or pooling layer of
the user's model — or a kernel of the user's own, max or average pooling — applied to
the probe image or a small grid of numbers. The kernel window slides over the
zero-padded input step by step or animated; the selected output cell's
multiply-accumulate is written out with its numbers; the output map fills in; the
output size (N + 2p - F)/s + 1 updates live with kernel size, stride and padding, with
the floor and the input rows no window reads.

The model (gui.explainer.Explainer) computes the output map with the engine's kernels
once per change of settings; the animation only moves its cursor. The model's layers
and the probe image are copied on the engine thread (the model may be training) when
the tab is shown."""
from __future__ import annotations

from dataclasses import asdict

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from .. import explainer as X
from .. import state as S
from ..widgets.spin import spin_box

NUMBER_CELL = 24            # cells at least this many pixels wide show their numbers
RED, BLUE, WHITE = (np.array(c, np.float64) for c in ((178, 24, 43), (33, 102, 172), (255, 255, 255)))
PAD_GREY = (215, 215, 215)
BUILTINS = (("Your kernel (convolution)", "user"), ("Max pooling", "max"), ("Average pooling", "avg"))
POOL_DEFAULTS = {"user": None, "max": (2, 2, 0), "avg": (2, 2, 0)}   # kernel, stride, padding
GRID_LIMIT = 16             # the number grid's largest side


def short(v: float) -> str:
    """A number as a grid cell writes it: two decimals below 10 (trailing zeros
    dropped), whole numbers above, -∞ for a max-pooling pad."""
    if v == -np.inf:
        return "-∞"
    s = f"{v:.2f}".rstrip("0").rstrip(".") if abs(v) < 10 else f"{v:.0f}"
    return "0" if s == "-0" else s


def diverging(values: np.ndarray, lim: float) -> np.ndarray:
    """Values -> uint8 RGB (..., 3): blue below 0, white at 0, red above, saturating at
    ±lim; -inf (a max-pooling pad) grey, NaN (not written yet) white."""
    v = np.asarray(values, np.float64)
    t = np.clip(np.nan_to_num(v / lim, nan=0.0, neginf=0.0, posinf=1.0), -1.0, 1.0)[..., None]
    rgb = np.where(t >= 0, WHITE + (RED - WHITE) * t, WHITE + (BLUE - WHITE) * -t)
    rgb[np.isneginf(v)] = PAD_GREY
    return rgb.astype(np.uint8)


class NumberGrid(QtWidgets.QWidget):
    """Numbers (C, H, W) drawn as coloured cells, the C planes side by side, each number
    written when its cell is large enough. Marks: the padding band (hatched), unread
    rows and columns (tinted red), a window (an orange frame in every plane), the
    selected cell (a black frame), cells not written yet (NaN: blank).
    ``clicked(row, col)`` on a click in the first plane; ``edited(plane, row, col,
    value)`` after a double-click edit of an editable cell (one that is not padding)."""

    clicked = QtCore.Signal(int, int)
    edited = QtCore.Signal(int, int, int, float)

    def __init__(self, max_cell: int = 46, parent=None):
        super().__init__(parent)
        self.max_cell = max_cell
        self.values: np.ndarray | None = None
        self._rgb = None
        self._labels = None
        self.pad = None
        self.window = None
        self.selected = None
        self.unread_rows: tuple = ()
        self.unread_cols: tuple = ()
        self.editable = False
        self._editor = None
        self.setMinimumSize(120, 120)
        self.setSizePolicy(QtWidgets.QSizePolicy.Expanding, QtWidgets.QSizePolicy.Expanding)

    def set_values(self, values: np.ndarray | None, lim: float | None = None) -> None:
        """(H, W) or (C, H, W); colours saturate at ``lim`` (default: the largest |value|)."""
        if values is None:
            self.values = self._rgb = self._labels = None
        else:
            v = np.asarray(values, np.float64)
            self.values = v[None] if v.ndim == 2 else v
            finite = np.abs(self.values[np.isfinite(self.values)])
            lim = lim or (float(finite.max()) if finite.size else 1.0) or 1.0
            self._rgb = diverging(self.values, lim)
            self._labels = None
        self.update()

    def set_marks(self, pad=None, window=None, selected=None, unread_rows=(), unread_cols=()) -> None:
        """``pad`` (H, W) bool: the padding cells; ``window`` (top, left, h, w) and
        ``selected`` (row, col) in the grid's own coordinates; unread rows / columns
        likewise."""
        self.pad, self.window, self.selected = pad, window, selected
        self.unread_rows, self.unread_cols = tuple(unread_rows), tuple(unread_cols)
        self.update()

    # -- geometry -----------------------------------------------------------------------------
    def layout_cells(self) -> tuple[float, float, float, float]:
        """(cell size, x of the first plane, y, gap between planes) in pixels."""
        c, h, w = self.values.shape
        gap = 8.0 if c > 1 else 0.0
        cell = min((self.width() - 4 - gap * (c - 1)) / (c * w), (self.height() - 4) / h, self.max_cell)
        cell = max(cell, 1.0)
        x0 = (self.width() - cell * c * w - gap * (c - 1)) / 2
        y0 = (self.height() - cell * h) / 2
        return cell, x0, y0, gap

    def cell_rect(self, plane: int, row: int, col: int) -> QtCore.QRectF:
        cell, x0, y0, gap = self.layout_cells()
        x = x0 + plane * (cell * self.values.shape[2] + gap) + col * cell
        return QtCore.QRectF(x, y0 + row * cell, cell, cell)

    def cell_at(self, pos: QtCore.QPointF) -> tuple[int, int, int] | None:
        """(plane, row, col) under a point, or None."""
        if self.values is None:
            return None
        c, h, w = self.values.shape
        cell, x0, y0, gap = self.layout_cells()
        for plane in range(c):
            left = x0 + plane * (cell * w + gap)
            col, row = int((pos.x() - left) // cell), int((pos.y() - y0) // cell)
            if 0 <= col < w and 0 <= row < h and pos.x() >= left and pos.y() >= y0:
                return plane, row, col
        return None

    # -- painting -----------------------------------------------------------------------------
    def paintEvent(self, e):
        p = QtGui.QPainter(self)
        p.fillRect(self.rect(), QtGui.QColor("white"))
        if self.values is None:
            return
        c, h, w = self.values.shape
        cell, x0, y0, gap = self.layout_cells()
        numbers = cell >= NUMBER_CELL
        if numbers:
            numbers = self._number_font(p, cell)
        grid_pen = QtGui.QPen(QtGui.QColor(0, 0, 0, 40 if cell >= 6 else 0))
        hatch = QtGui.QBrush(QtGui.QColor(90, 90, 90, 110), QtCore.Qt.BDiagPattern)
        unread = QtGui.QColor(230, 0, 0, 90)
        for t in range(c):
            left = x0 + t * (cell * w + gap)
            for r in range(h):
                for k in range(w):
                    rect = QtCore.QRectF(left + k * cell, y0 + r * cell, cell, cell)
                    rgb = self._rgb[t, r, k]
                    p.fillRect(rect, QtGui.QColor(int(rgb[0]), int(rgb[1]), int(rgb[2])))
                    if self.pad is not None and self.pad[r, k]:
                        p.fillRect(rect, hatch)
                    p.setPen(grid_pen)
                    p.drawRect(rect)
                    if numbers and self._labels[t, r, k]:
                        dark = int(rgb[0]) * 0.3 + int(rgb[1]) * 0.55 + int(rgb[2]) * 0.15 < 130
                        p.setPen(QtGui.QColor("white" if dark else "#111"))
                        p.drawText(rect, QtCore.Qt.AlignCenter, self._labels[t, r, k])
            for r in self.unread_rows:
                p.fillRect(QtCore.QRectF(left, y0 + r * cell, w * cell, cell), unread)
            for k in self.unread_cols:
                p.fillRect(QtCore.QRectF(left + k * cell, y0, cell, h * cell), unread)
            if self.window is not None:
                top, lft, wh, ww = self.window
                p.setPen(QtGui.QPen(QtGui.QColor("#ff8c00"), 3))
                p.setBrush(QtCore.Qt.NoBrush)
                p.drawRect(QtCore.QRectF(left + lft * cell, y0 + top * cell, ww * cell, wh * cell))
        if self.selected is not None:
            r, k = self.selected
            p.setPen(QtGui.QPen(QtGui.QColor("#111"), 3))
            p.setBrush(QtCore.Qt.NoBrush)
            p.drawRect(QtCore.QRectF(x0 + k * cell, y0 + r * cell, cell, cell))

    def _number_font(self, p: QtGui.QPainter, cell: float) -> bool:
        """Sets the largest font (8 to 13 px) in which every number fits its cell;
        False when none does."""
        if self._labels is None:
            self._labels = np.array(["" if np.isnan(v) else short(v) for v in self.values.flat],
                                    object).reshape(self.values.shape)
        font = p.font()
        size = min(13.0, cell * 0.4)
        font.setPixelSize(int(size))
        widest = max((QtGui.QFontMetricsF(font).horizontalAdvance(t) for t in self._labels.flat if t), default=0.0)
        if widest > cell - 4:
            size = int(size * (cell - 4) / widest)
        if size < 8:
            return False
        font.setPixelSize(int(size))
        p.setFont(font)
        return True

    # -- mouse and editing ----------------------------------------------------------------------
    def mousePressEvent(self, e):
        hit = self.cell_at(e.position())
        if hit is not None and hit[0] == 0:
            self.clicked.emit(hit[1], hit[2])
        super().mousePressEvent(e)

    def mouseDoubleClickEvent(self, e):
        hit = self.cell_at(e.position())
        if hit is not None:
            self.edit(*hit)

    def can_edit(self, plane: int, row: int, col: int) -> bool:
        return self.editable and not (self.pad is not None and self.pad[row, col])

    def edit(self, plane: int, row: int, col: int) -> QtWidgets.QLineEdit | None:
        """An editor over an editable cell; Enter commits (``edited``), Escape cancels."""
        if not self.can_edit(plane, row, col):
            return None
        self._close_editor()
        ed = QtWidgets.QLineEdit(X.fmt(self.values[plane, row, col]), self)
        ed.setValidator(QtGui.QDoubleValidator(-1e6, 1e6, 6, ed))
        ed.setGeometry(self.cell_rect(plane, row, col).adjusted(-6, -2, 6, 2).toRect())
        ed.selectAll()
        ed.returnPressed.connect(lambda: self._commit(plane, row, col))
        ed.installEventFilter(self)
        ed.show()
        ed.setFocus()
        self._editor = ed
        return ed

    def _commit(self, plane, row, col):
        ed = self._editor
        if ed is None:
            return
        value = QtCore.QLocale().toDouble(ed.text())
        text_ok = ed.hasAcceptableInput()
        self._close_editor()
        if text_ok and value[1]:
            self.edited.emit(plane, row, col, float(value[0]))

    def _close_editor(self):
        if self._editor is not None:
            self._editor.deleteLater()
            self._editor = None

    def eventFilter(self, obj, e):
        if obj is self._editor and ((e.type() == QtCore.QEvent.KeyPress and e.key() == QtCore.Qt.Key_Escape)
                                    or e.type() == QtCore.QEvent.FocusOut):
            self._close_editor()
            return e.type() == QtCore.QEvent.KeyPress
        return super().eventFilter(obj, e)


def _titled(title: str, *widgets) -> QtWidgets.QGroupBox:
    """A group box of widgets one above the other; the last takes the spare height."""
    box = QtWidgets.QGroupBox(title)
    lay = QtWidgets.QVBoxLayout(box)
    lay.setContentsMargins(6, 6, 6, 6)
    for i, w in enumerate(widgets):
        lay.addWidget(w, 1 if i == len(widgets) - 1 else 0)
    return box


class ExplainerPanel(QtWidgets.QWidget):
    """The Explain tab: choices on top, the output-size formula, the padded input, the
    window × kernel with the selected cell's arithmetic, the output map, the animation."""

    def __init__(self, state: S.AppState, worker, parent=None):
        super().__init__(parent)
        self.state, self.worker = state, worker
        self.model = X.Explainer()
        self.source: X.Source | None = None
        self._source_key = None
        self._job = 0
        self._syncing = False
        self._chosen = False                 # the user picked a layer: a new source keeps it
        self._grid_seed = 0
        self._grid = X.number_grid()
        self._user_kernel = X.SOBEL.copy()

        # -- what is applied to what ------------------------------------------------------------
        self.layer = QtWidgets.QComboBox()
        self.layer.setToolTip("A conv or pooling layer of the model, your own kernel, or plain pooling")
        self.layer.setSizeAdjustPolicy(QtWidgets.QComboBox.AdjustToContents)
        self.filter = spin_box(0, 0, 0, tip="Which filter (output channel) of the layer")
        self.channel = spin_box(0, 0, 0, tip="Which input channel of the filter's weights")
        self.input = QtWidgets.QComboBox()
        self.input.setToolTip("The probe image (as the model sees it, normalised) or a small grid of numbers")
        self.rows = spin_box(3, GRID_LIMIT, 7, tip="Rows of the number grid")
        self.cols = spin_box(3, GRID_LIMIT, 7, tip="Columns of the number grid")
        self.new_numbers = QtWidgets.QPushButton("New numbers")
        self.reload_btn = QtWidgets.QPushButton("Reload model")
        self.reload_btn.setToolTip("Copy the layers' weights and the probe image again (they change while training)")
        self.source_label = QtWidgets.QLabel("Loading the model's layers…")
        self.source_label.setStyleSheet("color: #555;")
        self.source_label.setSizePolicy(QtWidgets.QSizePolicy.Ignored, QtWidgets.QSizePolicy.Preferred)
        self.kh, self.kw = (spin_box(1, X.MAX_WINDOW, 3, tip=f"Window {a}") for a in ("height", "width"))
        self.sh, self.sw = (spin_box(1, X.MAX_WINDOW, 1, tip=f"Stride along the {a}") for a in ("rows", "columns"))
        self.ph, self.pw = (spin_box(0, X.MAX_WINDOW, 0, tip=f"Zero padding on the {a}") for a in
                            ("top and bottom", "left and right"))
        self.layer_values = QtWidgets.QPushButton("Layer's values")
        self.layer_values.setToolTip("Kernel size, stride and padding as the layer has them")

        self._filter_label, self._channel_label = QtWidgets.QLabel("Filter"), QtWidgets.QLabel("of input channel")
        self._grid_label = QtWidgets.QLabel("Grid")
        self._grid_times = QtWidgets.QLabel("×")
        row1 = QtWidgets.QHBoxLayout()
        for w in (QtWidgets.QLabel("Layer"), self.layer, self._filter_label, self.filter, self._channel_label,
                  self.channel):
            row1.addWidget(w)
        row1.addSpacing(12)
        for w in (QtWidgets.QLabel("Input"), self.input, self._grid_label, self.rows, self._grid_times, self.cols,
                  self.new_numbers):
            row1.addWidget(w)
        row1.addStretch(1)
        row1.addWidget(self.reload_btn)
        row2 = QtWidgets.QHBoxLayout()
        for label, a, b in (("Kernel", self.kh, self.kw), ("Stride", self.sh, self.sw),
                            ("Padding", self.ph, self.pw)):
            row2.addWidget(QtWidgets.QLabel(label))
            row2.addWidget(a)
            row2.addWidget(QtWidgets.QLabel("×"))
            row2.addWidget(b)
            row2.addSpacing(12)
        row2.addWidget(self.layer_values)
        row2.addSpacing(12)
        row2.addWidget(self.source_label, 1)

        # -- the output size --------------------------------------------------------------------
        self.formula = QtWidgets.QLabel()
        self.formula.setTextFormat(QtCore.Qt.RichText)
        self.why = QtWidgets.QLabel()
        self.why.setWordWrap(True)
        self.problem = QtWidgets.QLabel()
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #a00000; font-weight: bold;")
        size_box = QtWidgets.QGroupBox("Output size per axis: (N + 2p − F)/s + 1, rounded down")
        size_lay = QtWidgets.QVBoxLayout(size_box)
        size_lay.setContentsMargins(6, 4, 6, 4)
        for w in (self.formula, self.why, self.problem):
            size_lay.addWidget(w)

        # -- the grids and the arithmetic ---------------------------------------------------------
        self.input_view = NumberGrid(max_cell=40)
        self.input_view.setToolTip("The zero-padded input (hatched: padding; red: never read). "
                                   "Double-click a number of the grid to change it.")
        self.input_caption = QtWidgets.QLabel()
        self.input_caption.setWordWrap(True)
        self.kernel_view = NumberGrid(max_cell=44)
        self.kernel_view.setToolTip("The kernel's weights (double-click to change your own kernel's)")
        self.kernel_caption = QtWidgets.QLabel()
        self.kernel_caption.setWordWrap(True)
        self.window_view = NumberGrid(max_cell=44)
        self.window_view.setToolTip("The numbers under the window")
        self.window_caption = QtWidgets.QLabel()
        self.window_caption.setWordWrap(True)
        self.mac = QtWidgets.QPlainTextEdit()
        self.mac.setReadOnly(True)
        self.mac.setLineWrapMode(QtWidgets.QPlainTextEdit.WidgetWidth)
        mono = QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.FixedFont)
        self.mac.setFont(mono)
        self.output_view = NumberGrid(max_cell=40)
        self.output_view.setToolTip("The output map, as the engine computes it; click a cell to see its arithmetic")
        self.output_caption = QtWidgets.QLabel()
        self.output_caption.setWordWrap(True)

        self.times = QtWidgets.QLabel("×")
        self.times.setStyleSheet("font-size: 16pt; color: #555;")
        pair = QtWidgets.QHBoxLayout()
        pair.addWidget(self.window_view, 1)
        pair.addWidget(self.times)
        pair.addWidget(self.kernel_view, 1)
        self.window_box = QtWidgets.QGroupBox("Window × kernel")
        box_lay = QtWidgets.QVBoxLayout(self.window_box)
        box_lay.setContentsMargins(6, 6, 6, 6)
        box_lay.addWidget(self.window_caption)
        box_lay.addLayout(pair, 1)
        box_lay.addWidget(self.kernel_caption)
        middle = QtWidgets.QSplitter(QtCore.Qt.Vertical)
        middle.addWidget(self.window_box)
        middle.addWidget(_titled("Arithmetic of the selected cell", self.mac))
        middle.setSizes([300, 260])
        split = QtWidgets.QSplitter()
        split.addWidget(_titled("Input, zero-padded", self.input_caption, self.input_view))
        split.addWidget(middle)
        split.addWidget(_titled("Output map", self.output_caption, self.output_view))
        split.setSizes([380, 500, 400])

        # -- the animation -------------------------------------------------------------------------
        self.step_btn = QtWidgets.QPushButton("Step")
        self.play_btn = QtWidgets.QPushButton("Play")
        self.pause_btn = QtWidgets.QPushButton("Pause")
        self.reset_btn = QtWidgets.QPushButton("Reset")
        self.speed = QtWidgets.QSlider(QtCore.Qt.Horizontal)
        self.speed.setRange(1, 30)
        self.speed.setValue(int(state.ui.get("explain_speed", 4)))
        self.speed.setMaximumWidth(200)
        self.speed_label = QtWidgets.QLabel()
        self.progress = QtWidgets.QLabel()
        bar = QtWidgets.QHBoxLayout()
        for w in (self.step_btn, self.play_btn, self.pause_btn, self.reset_btn):
            bar.addWidget(w)
        bar.addSpacing(12)
        bar.addWidget(QtWidgets.QLabel("Speed"))
        bar.addWidget(self.speed)
        bar.addWidget(self.speed_label)
        bar.addSpacing(12)
        bar.addWidget(self.progress, 1)

        lay = QtWidgets.QVBoxLayout(self)
        lay.addLayout(row1)
        lay.addLayout(row2)
        lay.addWidget(size_box)
        lay.addWidget(split, 1)
        lay.addLayout(bar)

        self.timer = QtCore.QTimer(self)
        self.timer.timeout.connect(self._tick)
        self._speed_changed(self.speed.value())

        self.model.subscribe(self._draw_settings, X.SETTINGS)
        self.model.subscribe(self._draw_cursor, X.CURSOR)
        self.layer.currentIndexChanged.connect(self._layer_chosen)
        self.input.currentIndexChanged.connect(self._input_picked)
        for s in (self.filter, self.channel, self.kh, self.kw, self.sh, self.sw, self.ph, self.pw):
            s.valueChanged.connect(self._apply)
        self.rows.valueChanged.connect(self._grid_resized)
        self.cols.valueChanged.connect(self._grid_resized)
        self.new_numbers.clicked.connect(self._new_numbers)
        self.reload_btn.clicked.connect(lambda: self.reload(force=True))
        self.layer_values.clicked.connect(self._layer_geometry)
        self.step_btn.clicked.connect(self.step)
        self.play_btn.clicked.connect(self.play)
        self.pause_btn.clicked.connect(self.pause)
        self.reset_btn.clicked.connect(self.reset)
        self.speed.valueChanged.connect(self._speed_changed)
        self.output_view.clicked.connect(self.model.select)
        self.input_view.edited.connect(self._grid_edited)
        self.kernel_view.edited.connect(self._kernel_edited)
        for topic in (S.MODEL, S.RUNS, S.SAMPLES):
            state.subscribe(self._maybe_reload, topic)

        self._fill_choices()
        self._layer_picked()

    # -- the model's layers and probe (engine thread) ---------------------------------------------
    def _key(self):
        run = self.state.run()
        return (None if run is None else (run.id, run.step), repr(asdict(self.state.model)),
                repr(asdict(self.state.data)), int(self.state.hyper.seed), int(self.state.ui.get("probe_index", 0)))

    def showEvent(self, e):
        super().showEvent(e)
        self.reload()

    def hideEvent(self, e):
        super().hideEvent(e)
        self.pause()

    def _maybe_reload(self, **info):
        if self.isVisible():
            self.reload()

    def reload(self, force: bool = False) -> None:
        """Copies the current model's conv and pooling layers and the probe image on the
        engine thread (unless nothing they depend on changed)."""
        key = self._key()
        if key == self._source_key and not force:
            return
        self._source_key = key
        self._job += 1
        job = self._job
        run = self.state.run()
        st = self.state
        self._say("Loading the model's layers…")
        self.worker.explainer_source(
            None if run is None else run.id, "" if run is None else f"{run.name.split(':')[0]} at step {run.step}",
            int(st.ui.get("probe_index", 0)),
            done=lambda source: job == self._job and self.set_source(source),
            error=lambda exc, tb: job == self._job and self._source_failed(exc))

    def _source_failed(self, exc: BaseException) -> None:
        self._source_key = None
        self._say(f"No model layers: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")

    def _say(self, text: str) -> None:
        self.source_label.setText(text)
        self.source_label.setToolTip(text)

    def set_source(self, source: X.Source) -> None:
        """The model's layers and the probe image. The chosen layer (and its geometry)
        and input stay when they are still there; the first time, unless the user chose
        already, the model's first conv layer on the probe image."""
        first = self.source is None
        self.source = source
        self._say(f"{source.model_name}; {source.probe_name}")
        kept = self._fill_choices()
        if first and not self._chosen:
            conv = next((i for i, layer in enumerate(source.layers) if layer.op == "conv"), None)
            self._syncing = True
            if conv is not None:
                self.layer.setCurrentIndex(len(BUILTINS) + conv)
                kept = False
            self._fill_inputs()
            if source.probe is not None:
                self.input.setCurrentIndex(1)
            self._syncing = False
        self._layer_picked(keep_geometry=kept)

    # -- choices ----------------------------------------------------------------------------------
    def current_layer(self) -> X.Layer | None:
        key = self.layer.currentData()
        return self.source.layers[key] if isinstance(key, int) else None

    def _fill_choices(self) -> bool:
        """The layer combo from the source; returns whether the chosen entry is still there."""
        self._syncing = True
        title = self.layer.currentText()
        self.layer.clear()
        for name, key in BUILTINS:
            self.layer.addItem(name, key)
        for i, layer in enumerate(self.source.layers if self.source else ()):
            self.layer.addItem(layer.title, i)
        index = self.layer.findText(title)
        self.layer.setCurrentIndex(max(0, index))
        self._syncing = False
        return index >= 0

    def _fill_inputs(self) -> None:
        """The input combo for the chosen layer; the chosen input stays (all channels
        falls back to channel 0 where it is not offered)."""
        was = self.input.currentData()
        self.input.blockSignals(True)
        self.input.clear()
        self.input.addItem("Number grid", "grid")
        probe = self.source.probe if self.source else None
        if probe is not None:
            for c in range(probe.shape[0]):
                self.input.addItem(f"Probe image, channel {c}" if probe.shape[0] > 1 else "Probe image", c)
            layer = self.current_layer()
            if probe.shape[0] > 1 and layer is not None and layer.op == "conv" and \
                    layer.weight.shape[1] == probe.shape[0]:
                self.input.addItem("Probe image, all channels (summed)", "all")
        index = self.input.findData(was)
        self.input.setCurrentIndex(index if index >= 0 else max(0, self.input.findData(0 if was == "all" else "grid")))
        self.input.blockSignals(False)

    def _layer_chosen(self, *_) -> None:
        if not self._syncing:
            self._chosen = True
            self._layer_picked()

    def _layer_picked(self, keep_geometry: bool = False) -> None:
        """Filter and channel ranges, the inputs the layer takes, and (unless kept) the
        layer's kernel size, stride and padding; then the explainer is updated."""
        self._syncing = True
        self._fill_inputs()
        layer = self.current_layer()
        conv = layer is not None and layer.op == "conv"
        if conv:
            o, c = layer.weight.shape[:2]
            self.filter.setRange(0, o - 1)
            self.channel.setRange(0, c - 1)
        for w in (self.filter, self._filter_label):
            w.setVisible(conv)
        for w in (self.channel, self._channel_label):
            w.setVisible(conv and layer.weight.shape[1] > 1)
        self.layer_values.setEnabled(layer is not None)
        if not keep_geometry:
            self._set_geometry()
        self._syncing = False
        self._input_picked()

    def _set_geometry(self) -> None:
        """The spin boxes from the chosen layer (or the defaults of a built-in choice)."""
        layer = self.current_layer()
        if layer is not None:
            values = (*layer.kernel_size, *layer.stride, *layer.padding)
        else:
            default = POOL_DEFAULTS[self.layer.currentData()]
            values = ((*self._user_kernel.shape, self.sh.value(), self.sw.value(), self.ph.value(), self.pw.value())
                      if default is None else (default[0], default[0], default[1], default[1], default[2], default[2]))
        for s, v in zip((self.kh, self.kw, self.sh, self.sw, self.ph, self.pw), values):
            s.setValue(v)

    def _layer_geometry(self) -> None:
        self._syncing = True
        self._set_geometry()
        self._syncing = False
        self._apply()

    def _input_picked(self, *_) -> None:
        if self._syncing:
            return
        which = self.input.currentData()
        grid = which == "grid"
        for w in (self._grid_label, self.rows, self._grid_times, self.cols, self.new_numbers):
            w.setVisible(grid)
        layer = self.current_layer()
        if (isinstance(which, int) and layer is not None and layer.op == "conv" and self.source is not None
                and layer.weight.shape[1] == self.source.probe.shape[0]):
            self._syncing = True
            self.channel.setValue(which)       # the filter's weights for the channel shown
            self._syncing = False
        self.channel.setEnabled(which != "all")
        self._apply()

    # -- applying the choices ---------------------------------------------------------------------
    def _input(self) -> tuple[np.ndarray, str]:
        which = self.input.currentData()
        if which == "grid" or self.source is None or self.source.probe is None:
            return self._grid, "number grid"
        if which == "all":
            return self.source.probe, "probe image, all channels"
        many = self.source.probe.shape[0] > 1
        return self.source.probe[which], f"probe image{f', channel {which}' if many else ''}"

    def _apply(self, *_) -> None:
        """Hands every choice to the explainer at once (it recomputes the output map)."""
        if self._syncing:
            return
        planes, input_name = self._input()
        key, layer = self.layer.currentData(), self.current_layer()
        size = (self.kh.value(), self.kw.value())
        settings = dict(planes=planes, input_name=input_name, kernel_size=size,
                        stride=(self.sh.value(), self.sw.value()), padding=(self.ph.value(), self.pw.value()))
        if layer is not None and layer.op == "conv":
            o = self.filter.value()
            ci = None if self.input.currentData() == "all" else self.channel.value()
            settings.update(op="conv", kernel=layer.kernel(o, ci), bias=layer.bias_of(o),
                            kernel_name=f"layer {layer.name}, filter {o}" + ("" if ci is None else
                                                                               f", input channel {ci}"))
        elif layer is not None:
            settings.update(op=layer.op, count_include_pad=layer.count_include_pad)
        elif key == "user":
            settings.update(op="conv", kernel=self._user_kernel, bias=0.0, kernel_name="your kernel")
        else:
            settings.update(op=key, count_include_pad=True)
        try:
            self.model.update(**settings)
        except ValueError as e:
            self.problem.setText(str(e))
            self.problem.setVisible(True)

    def _grid_resized(self, *_) -> None:
        self._grid = X.number_grid(self.rows.value(), self.cols.value(), self._grid_seed)
        self._apply()

    def _new_numbers(self) -> None:
        self._grid_seed += 1
        self._grid_resized()

    def _grid_edited(self, plane: int, row: int, col: int, value: float) -> None:
        if self.input.currentData() != "grid":
            return
        grid = self._grid.copy()
        grid[row - self.model.padding[0], col - self.model.padding[1]] = value
        self._grid = grid
        self._apply()

    def _kernel_edited(self, plane: int, row: int, col: int, value: float) -> None:
        if self.layer.currentData() != "user":
            return
        kernel = self.model.kernel[0].copy()
        kernel[row, col] = value
        self._user_kernel = kernel
        self._apply()

    # -- the animation ------------------------------------------------------------------------------
    def step(self) -> None:
        self.model.step()

    def play(self) -> None:
        if self.model.total:
            if self.model.finished:
                self.model.reset()
            self.timer.start()
            self._buttons()

    def pause(self) -> None:
        self.timer.stop()
        self._buttons()

    def reset(self) -> None:
        self.timer.stop()
        self.model.reset()
        self._buttons()

    def _tick(self) -> None:
        self.model.step()
        if self.model.finished:
            self.pause()

    def _speed_changed(self, value: int) -> None:
        self.timer.setInterval(int(1000 / value))
        self.speed_label.setText(f"{value} cells/s")
        self.state.set_ui(explain_speed=int(value))

    def _buttons(self) -> None:
        playing = self.timer.isActive()
        self.play_btn.setEnabled(not playing and bool(self.model.total))
        self.pause_btn.setEnabled(playing)
        self.step_btn.setEnabled(bool(self.model.total))
        self.reset_btn.setEnabled(bool(self.model.total))

    # -- drawing --------------------------------------------------------------------------------------
    def _draw_settings(self) -> None:
        m = self.model
        formulas = "&nbsp;&nbsp;&nbsp;".join(f"<b>{a.name}</b>: {a.formula()}" for a in m.axes)
        if m.output is not None:
            formulas += f"&nbsp;&nbsp;&nbsp;→ output map <b>{m.shape[0]} × {m.shape[1]}</b>"
        self.formula.setText(formulas)
        self.why.setText("  ".join(f"{a.name.capitalize()}: {a.explanation()}." for a in m.axes))
        unread = any(a.unread for a in m.axes) and m.output is not None
        self.why.setStyleSheet("color: #a00000;" if unread else "color: #333;")
        self.problem.setText(m.problem)
        self.problem.setVisible(bool(m.problem))
        ph, pw = m.padding
        self.input_view.editable = self.input.currentData() == "grid"
        self.input_view.set_values(m.padded)
        self.input_caption.setText(
            f"{m.input_name}, {'×'.join(map(str, m.planes.shape[1:]))}" + (f" padded by {ph}×{pw}" if ph or pw
                                                                               else "")
            + (" with −∞ (max pooling never picks a pad)" if m.op == "max" and (ph or pw) else ""))
        conv = m.op == "conv"
        self.kernel_view.setVisible(conv)
        self.times.setVisible(conv)
        self.window_box.setTitle("Window × kernel" if conv else "Window")
        self.kernel_view.editable = self.layer.currentData() == "user"
        self.kernel_view.set_values(m.kernel if conv else None)
        self.kernel_caption.setText(m.operation())
        self.output_view.set_values(m.shown_output(), lim=(float(np.abs(m.output).max()) or 1.0)
                                    if m.output is not None else None)
        self.output_caption.setText(m.describe())
        self._buttons()

    def _draw_cursor(self) -> None:
        m = self.model
        ph, pw = m.padding
        rows = [r + ph for r in m.axes[0].unread] if m.output is not None else []
        cols = [c + pw for c in m.axes[1].unread] if m.output is not None else []
        if m.output is None:
            self.input_view.set_marks(m.is_pad, None, None, rows, cols)
            self.output_view.set_values(None)
            self.window_view.set_values(None)
            self.mac.setPlainText(m.problem)
            self.window_caption.setText("")
            self.progress.setText("")
            return
        i, j = m.selected
        top, left, kh, kw = m.window(i, j)
        self.input_view.set_marks(m.is_pad, (top, left, kh, kw), None, rows, cols)
        self.output_view.set_values(m.shown_output(), lim=float(np.abs(m.output).max()) or 1.0)
        self.output_view.set_marks(selected=(i, j))
        cell = m.cell(i, j)
        self.window_view.set_values(cell.window)
        self.window_view.set_marks(pad=m.is_pad[top:top + kh, left:left + kw])
        padded = " (those outside 0…N−1 are padding)" if m.is_pad[top:top + kh, left:left + kw].any() else ""
        self.window_caption.setText(f"input rows {top - ph}…{top - ph + kh - 1}, columns {left - pw}…"
                                    f"{left - pw + kw - 1}{padded}")
        self.mac.setPlainText(f"output row {i}, column {j}:\n{cell.text}")
        self.progress.setText(f"cell {i * m.shape[1] + j + 1} of {m.total}: output row {i}, column {j} "
                              f"· {m.filled} of {m.total} written")
