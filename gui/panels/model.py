"""Model tab: a zoo model, or a layer list built by hand — add, remove, reorder, edit
arguments — with every row's output shape, parameters and MACs as the user types, the
row that does not fit in red with the reason, and Save/Load of the JSON spec."""
from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from engine import models

from .. import modelspec
from .. import state as S
from ..widgets.layertable import LayerTable, fmt_count, fmt_shape

# the input each dataset gives before its files are read
DEFAULT_SHAPES = {"MNIST": (1, 28, 28), "FashionMNIST": (1, 28, 28), "CIFAR10": (3, 32, 32), "ImageFolder": (3, 32, 32)}


class ModelPanel(QtWidgets.QWidget):
    def __init__(self, state: S.AppState, worker=None, parent=None):
        super().__init__(parent)
        self.state, self.worker = state, worker
        self.zoo_names = models.names()

        # -- source -------------------------------------------------------------------
        self.zoo_radio = QtWidgets.QRadioButton("Zoo model")
        self.custom_radio = QtWidgets.QRadioButton("Custom layers")
        self.zoo = QtWidgets.QComboBox()
        self.zoo.addItems(self.zoo_names)
        self.edit_copy = QtWidgets.QPushButton("Edit a copy")
        self.edit_copy.setToolTip("Turn the zoo model into an editable layer list")
        self.new_btn = QtWidgets.QPushButton("New")
        self.new_btn.setToolTip("Start a custom model: conv, ReLU, pool, flatten, linear")
        self.load_btn = QtWidgets.QPushButton("Load spec…")
        self.save_btn = QtWidgets.QPushButton("Save spec…")
        top = QtWidgets.QHBoxLayout()
        for w in (self.zoo_radio, self.zoo, self.edit_copy, QtWidgets.QLabel("   "), self.custom_radio, self.new_btn,
                  self.load_btn, self.save_btn):
            top.addWidget(w)
        top.addStretch(1)

        self.input_label = QtWidgets.QLabel()
        self.table = LayerTable()

        # -- editing --------------------------------------------------------------------
        self.add_type = QtWidgets.QComboBox()
        self.add_type.addItems(modelspec.layer_types())
        self.add_type.setCurrentText("Conv2d")
        self.add_btn = QtWidgets.QPushButton("Add below")
        self.remove_btn = QtWidgets.QPushButton("Remove")
        self.up_btn = QtWidgets.QPushButton("Move up")
        self.down_btn = QtWidgets.QPushButton("Move down")
        self.fix_btn = QtWidgets.QPushButton("Fix input sizes")
        self.fix_btn.setToolTip("Set every in_channels / in_features / num_features to what flows into the layer")
        self.form_box = QtWidgets.QGroupBox("Selected layer")
        self.form = QtWidgets.QFormLayout(self.form_box)
        self.type_combo = QtWidgets.QComboBox()
        self.type_combo.addItems(modelspec.layer_types())
        self.form.addRow("Type", self.type_combo)
        self.arg_edits: dict[str, QtWidgets.QLineEdit] = {}
        self.form_error = QtWidgets.QLabel()
        self.form_error.setWordWrap(True)
        self.form_error.setStyleSheet("color: #a00000;")

        side = QtWidgets.QVBoxLayout()
        add_row = QtWidgets.QHBoxLayout()
        add_row.addWidget(self.add_type, 1)
        add_row.addWidget(self.add_btn)
        side.addLayout(add_row)
        mv = QtWidgets.QHBoxLayout()
        for w in (self.remove_btn, self.up_btn, self.down_btn):
            mv.addWidget(w)
        side.addLayout(mv)
        side.addWidget(self.fix_btn)
        side.addWidget(self.form_box)
        side.addWidget(self.form_error)
        side.addStretch(1)
        sidew = QtWidgets.QWidget()
        sidew.setLayout(side)
        sidew.setMaximumWidth(340)

        self.status = QtWidgets.QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)

        mid = QtWidgets.QHBoxLayout()
        mid.addWidget(self.table, 1)
        mid.addWidget(sidew)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.input_label)
        lay.addLayout(mid, 1)
        lay.addWidget(self.status)

        self.layers: list[dict] = []
        self._form_row = -1
        self._typing = False            # a form field is being typed in: its text stays

        self.zoo_radio.toggled.connect(self._source_toggled)
        self.zoo.currentTextChanged.connect(lambda name: self.state.set_model(zoo_name=name))
        self.edit_copy.clicked.connect(self.edit_zoo_copy)
        self.new_btn.clicked.connect(self.new_model)
        self.load_btn.clicked.connect(self._load_dialog)
        self.save_btn.clicked.connect(self._save_dialog)
        self.add_btn.clicked.connect(lambda: self.add_layer(self.add_type.currentText()))
        self.remove_btn.clicked.connect(self.remove_layer)
        self.up_btn.clicked.connect(lambda: self.move_layer(-1))
        self.down_btn.clicked.connect(lambda: self.move_layer(+1))
        self.fix_btn.clicked.connect(self.fix_inputs)
        self.table.args_edited.connect(self._table_args_edited)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.type_combo.currentTextChanged.connect(self._type_changed)
        state.subscribe(self._on_model, S.MODEL)
        state.subscribe(lambda **kw: self.recheck(), S.SAMPLES)
        state.subscribe(lambda **kw: self.recheck(), S.DATA)
        self._sync_from_state()

    # -- data the model must fit ----------------------------------------------------------
    def input_shape(self) -> tuple:
        info = self.state.dataset_info
        if info and info.get("shape") and info.get("name") == self.state.data.name:
            return tuple(info["shape"])
        return DEFAULT_SHAPES.get(self.state.data.name, (3, 32, 32))

    def num_classes(self) -> int:
        info = self.state.dataset_info
        if info and info.get("classes") and info.get("name") == self.state.data.name:
            return len(info["classes"])
        return 10

    # -- state <-> view -------------------------------------------------------------------
    def _on_model(self, changed=None, check=None):
        if check is None:
            self._sync_from_state()

    def _sync_from_state(self):
        m = self.state.model
        for w in (self.zoo_radio, self.custom_radio, self.zoo):
            w.blockSignals(True)
        custom = m.source == "custom" and bool(m.spec)
        self.zoo_radio.setChecked(not custom)
        self.custom_radio.setChecked(custom)
        if m.zoo_name in self.zoo_names:
            self.zoo.setCurrentText(m.zoo_name)
        for w in (self.zoo_radio, self.custom_radio, self.zoo):
            w.blockSignals(False)
        self.recheck()

    def _source_toggled(self, zoo_on: bool):
        if zoo_on:
            self.state.set_model(source="zoo")
        elif self.state.model.spec:
            self.state.set_model(source="custom")
        else:
            self.edit_zoo_copy()

    def current_layers(self) -> list[dict]:
        m = self.state.model
        if m.source == "custom" and m.spec:
            return modelspec.as_sequential(m.spec)
        c, h, w = self.input_shape()
        try:
            return modelspec.as_sequential(modelspec.zoo_spec(m.zoo_name, c, self.num_classes(), (h, w)))
        except Exception as e:  # noqa: BLE001 - a zoo model that cannot take this input
            self._zoo_error = str(e)
            return []

    @property
    def editable(self) -> bool:
        return self.state.model.source == "custom" and bool(self.state.model.spec)

    def recheck(self):
        """Re-analyses the layer list and refreshes the table, status and Train gate."""
        self._zoo_error = ""
        self.layers = self.current_layers()
        shape, k = self.input_shape(), self.num_classes()
        check = modelspec.analyse(self.layers, shape, k) if self.layers else {
            "rows": [], "ok": False, "message": self._zoo_error or "the model has no layers", "output": None,
            "bad_row": None, "total_params": 0, "total_macs": 0, "input": shape}
        self.table.populate(self.layers, check, editable=self.editable)
        c, h, w = shape
        self.input_label.setText(f"Input: {c} × {h} × {w} ({self.state.data.name}), {k} classes")
        if check["ok"]:
            self.status.setText(f"<span style='color:#2a6'>✓ The model fits: output {fmt_shape(check['output'])}, "
                                f"{check['total_params']:,} parameters ({check['total_params'] * 4 / 2**20:.2f} MiB), "
                                f"{fmt_count(check['total_macs'])} MACs per image.</span>")
        else:
            self.status.setText(f"<b style='color:#a00000'>✗ {check['message']}</b> — Train is disabled until it fits.")
        for w in (self.add_btn, self.remove_btn, self.up_btn, self.down_btn, self.fix_btn, self.form_box,
                  self.save_btn):
            w.setEnabled(self.editable or w is self.save_btn)
        self.state.set_model_check(check)
        self._fill_form(self.table.currentRow())

    def _commit(self, layers: list[dict], select: int | None = None):
        self.state.set_model(source="custom", spec=modelspec.sequential(layers))
        if select is not None and 0 <= select < len(layers):
            self.table.selectRow(select)
            self._fill_form(select)

    # -- actions --------------------------------------------------------------------------
    def edit_zoo_copy(self):
        c, h, w = self.input_shape()
        spec = modelspec.zoo_spec(self.zoo.currentText(), c, self.num_classes(), (h, w))
        self._commit(modelspec.as_sequential(spec), 0)

    def new_model(self):
        c, h, w = self.input_shape()
        k = self.num_classes()
        layers = [{"type": "Conv2d", "in_channels": c, "out_channels": 8, "kernel_size": 3, "stride": 1, "padding": 1,
                   "bias": True}, {"type": "ReLU"},
                  {"type": "MaxPool2d", "kernel_size": 2, "stride": None, "padding": 0},
                  {"type": "Flatten"}, {"type": "Linear", "in_features": 8 * (h // 2) * (w // 2), "out_features": k,
                                        "bias": True}]
        self._commit(layers, 0)

    def add_layer(self, kind: str):
        layers = list(self.layers)
        row = self.table.currentRow()
        at = row + 1 if row >= 0 else len(layers)
        check = self.state.model_check or {}
        rows = check.get("rows") or []
        shape = self.input_shape()
        for r in reversed(rows[:at]):
            if r.get("out") is not None:
                shape = r["out"]
                break
        layers.insert(at, modelspec.new_layer(kind, shape, self.num_classes()))
        self._commit(layers, at)

    def remove_layer(self):
        row = self.table.currentRow()
        if 0 <= row < len(self.layers):
            layers = list(self.layers)
            del layers[row]
            self._commit(layers, min(row, len(layers) - 1))

    def move_layer(self, delta: int):
        row = self.table.currentRow()
        to = row + delta
        if 0 <= row < len(self.layers) and 0 <= to < len(self.layers):
            layers = list(self.layers)
            layers[row], layers[to] = layers[to], layers[row]
            self._commit(layers, to)

    def fix_inputs(self):
        self._commit(modelspec.fix_inputs(self.layers, self.input_shape()), self.table.currentRow())

    def set_layer_args(self, row: int, args: dict):
        """Replaces row ``row``'s arguments (keeps its type)."""
        layers = list(self.layers)
        layers[row] = {"type": layers[row]["type"], **args}
        self._commit(layers, row)

    def _table_args_edited(self, row: int, text: str):
        try:
            args = modelspec.parse_args(text)
        except ValueError as e:
            self.recheck()
            self.form_error.setText(f"Row {row + 1}: {e}")
            return
        self.set_layer_args(row, args)

    # -- the selected layer's form --------------------------------------------------------
    def _selection_changed(self):
        self._fill_form(self.table.currentRow())

    def _fill_form(self, row: int):
        """The form shows row ``row`` as it is now: its type, its arguments and why it does
        not fit. The fields are rebuilt when the row or its type changes; otherwise their
        texts are brought up to date, except while the user types in them."""
        layer = self.layers[row] if 0 <= row < len(self.layers) else None
        if row == self._form_row and self.arg_edits and self._form_matches(row):
            if not self._typing:
                for name, edit in self.arg_edits.items():
                    text = modelspec.format_value(layer[name]) if name in layer else ""
                    if edit.text() != text:
                        edit.setText(text)
                    edit.setEnabled(self.editable)
        else:
            self._build_form(row, layer)
        self._form_row = row
        self.type_combo.setEnabled(self.editable and layer is not None and layer.get("type") not in modelspec.CONTAINERS)
        rows = (self.state.model_check or {}).get("rows") or []
        error = rows[row].get("error") if 0 <= row < len(rows) else None
        self.form_error.setText(f"Row {row + 1}: {error}" if error else "")

    def _build_form(self, row: int, layer: dict | None) -> None:
        """New fields for the row's arguments (none for a container or an unknown type)."""
        while self.form.rowCount() > 1:
            self.form.removeRow(1)
        self.arg_edits = {}
        kind = None if layer is None else layer.get("type")
        known = modelspec.is_layer_type(kind)
        self.type_combo.blockSignals(True)
        self.type_combo.setCurrentIndex(self.type_combo.findText(kind) if known else -1)
        self.type_combo.blockSignals(False)
        if layer is None:
            return
        if kind in modelspec.CONTAINERS:
            self.form.addRow(QtWidgets.QLabel(modelspec.describe_container(layer)))
            return
        if not known:
            return
        for name, default in modelspec.signature(kind):
            edit = QtWidgets.QLineEdit(modelspec.format_value(layer.get(name)) if name in layer else "")
            if default is modelspec.REQUIRED:
                edit.setPlaceholderText("required")
            else:
                edit.setPlaceholderText(f"default {modelspec.format_value(default)}")
            edit.setEnabled(self.editable)
            edit.textEdited.connect(lambda _text, r=row: self._form_edited(r))
            self.form.addRow(name, edit)
            self.arg_edits[name] = edit

    def _form_matches(self, row):
        layer = self.layers[row] if 0 <= row < len(self.layers) else None
        kind = None if layer is None else layer.get("type")
        return modelspec.is_layer_type(kind) and kind == self.type_combo.currentText() and \
            set(self.arg_edits) == {n for n, _ in modelspec.signature(kind)}

    def _form_edited(self, row: int):
        """Every keystroke in the form re-checks the model (the fields keep what is typed)."""
        args = {}
        for name, edit in self.arg_edits.items():
            text = edit.text().strip()
            if not text:
                continue
            try:
                args[name] = modelspec.parse_value(text)
            except ValueError as e:
                self.form_error.setText(f"{name}: {e}")
                return
        self._typing = True
        try:
            self.set_layer_args(row, args)
        finally:
            self._typing = False

    def _type_changed(self, kind: str):
        row = self.table.currentRow()
        if not (0 <= row < len(self.layers)) or not self.editable:
            return
        rows = (self.state.model_check or {}).get("rows") or []
        shape = self.input_shape()
        for r in reversed(rows[:row]):
            if r.get("out") is not None:
                shape = r["out"]
                break
        layers = list(self.layers)
        layers[row] = modelspec.new_layer(kind, shape, self.num_classes())
        self._form_row = -1
        self._commit(layers, row)

    # -- files ----------------------------------------------------------------------------
    def _load_dialog(self):
        start = self.state.recent.get("spec", "")
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Load model spec", start, "Model spec (*.json)")
        if path:
            self.load_spec(path)

    def load_spec(self, path: str):
        try:
            spec = modelspec.load_spec(path)
        except (OSError, ValueError) as e:
            QtWidgets.QMessageBox.warning(self, "Load model spec", str(e))
            return
        self.state.remember("spec", path)
        self._commit(modelspec.as_sequential(spec), 0)

    def _save_dialog(self):
        start = self.state.recent.get("spec", "model.json")
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save model spec", start, "Model spec (*.json)")
        if path:
            self.save_spec(path)

    def save_spec(self, path: str):
        modelspec.save_spec(modelspec.sequential(self.layers), path)
        self.state.remember("spec", path)
