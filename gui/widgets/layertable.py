"""The model editor's layer table: one row per layer with its arguments (editable),
output shape, parameters and MACs; a row that does not fit is red with the reason, and
stays red when selected (its selection is drawn in a darker red, not the usual blue)."""
from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from .. import modelspec

COLUMNS = ("#", "Layer", "Arguments", "Output shape", "Params", "MACs")
ARGS = 2
BAD = QtGui.QColor("#f8d0d0")
BAD_SELECTED = QtGui.QColor("#e08080")        # a selected row that does not fit
BAD_SELECTED_TEXT = QtGui.QColor("#3a0000")
CONTAINER = QtGui.QColor("#eef2f8")
BAD_ROLE = QtCore.Qt.UserRole + 1             # True on the cells of a row that does not fit


def fmt_count(n) -> str:
    if n is None:
        return ""
    n = int(n)
    if n >= 10 ** 9:
        return f"{n / 1e9:.2f} G"
    if n >= 10 ** 6:
        return f"{n / 1e6:.2f} M"
    if n >= 10 ** 4:
        return f"{n / 1e3:.1f} k"
    return f"{n:,}"


def fmt_shape(s) -> str:
    return "" if s is None else " × ".join(str(v) for v in s)


class _RowColours(QtWidgets.QStyledItemDelegate):
    """Draws the selection of a row that does not fit in red."""

    def initStyleOption(self, option, index):
        super().initStyleOption(option, index)
        if index.data(BAD_ROLE):
            option.palette.setColor(QtGui.QPalette.Highlight, BAD_SELECTED)
            option.palette.setColor(QtGui.QPalette.HighlightedText, BAD_SELECTED_TEXT)


class LayerTable(QtWidgets.QTableWidget):
    """``args_edited(row, text)`` when the user commits an Arguments cell."""

    args_edited = QtCore.Signal(int, str)

    def __init__(self, parent=None):
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(COLUMNS)
        self.verticalHeader().setVisible(False)
        self.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectRows)
        self.setSelectionMode(QtWidgets.QAbstractItemView.SingleSelection)
        self.setEditTriggers(QtWidgets.QAbstractItemView.DoubleClicked | QtWidgets.QAbstractItemView.EditKeyPressed
                             | QtWidgets.QAbstractItemView.AnyKeyPressed)
        h = self.horizontalHeader()
        h.setSectionResizeMode(QtWidgets.QHeaderView.ResizeToContents)
        h.setSectionResizeMode(ARGS, QtWidgets.QHeaderView.Stretch)
        self.setAlternatingRowColors(True)
        self.setItemDelegate(_RowColours(self))
        self._filling = False
        self.itemChanged.connect(self._changed)

    def populate(self, layers: list, check: dict | None, editable: bool = True) -> None:
        self._filling = True
        sel = self.currentRow()
        self.setRowCount(len(layers))
        rows = (check or {}).get("rows") or [{}] * len(layers)
        for i, layer in enumerate(layers):
            info = rows[i] if i < len(rows) else {}
            container = layer.get("type") in modelspec.CONTAINERS
            cells = [str(i + 1), layer.get("type", "?"), modelspec.format_args(layer), fmt_shape(info.get("out")),
                     fmt_count(info.get("params")), fmt_count(info.get("macs"))]
            error = info.get("error")
            for c, text in enumerate(cells):
                item = self.item(i, c)
                if item is None:
                    item = QtWidgets.QTableWidgetItem()
                    self.setItem(i, c, item)
                item.setText(text)
                flags = QtCore.Qt.ItemIsSelectable | QtCore.Qt.ItemIsEnabled
                if c == ARGS and editable and not container:
                    flags |= QtCore.Qt.ItemIsEditable
                item.setFlags(flags)
                if c >= 3:
                    item.setTextAlignment(QtCore.Qt.AlignRight | QtCore.Qt.AlignVCenter)
                item.setData(BAD_ROLE, bool(error))
                if error:
                    item.setBackground(BAD)
                    item.setToolTip(error)
                elif container:
                    item.setBackground(CONTAINER)
                    item.setToolTip("a block from the zoo: move or remove it; its inside is read-only")
                else:
                    item.setData(QtCore.Qt.BackgroundRole, None)
                    item.setToolTip("")
            if error:
                self.item(i, 3).setText("✗ " + error)
                self.item(i, 3).setTextAlignment(QtCore.Qt.AlignLeft | QtCore.Qt.AlignVCenter)
                self.item(i, 3).setForeground(QtGui.QColor("#a00000"))
            else:
                self.item(i, 3).setData(QtCore.Qt.ForegroundRole, None)
        if 0 <= sel < len(layers):
            self.selectRow(sel)
        self._filling = False

    def row_is_bad(self, row: int) -> bool:
        item = self.item(row, 0)
        return item is not None and item.background().color() == BAD

    def _changed(self, item):
        if not self._filling and item.column() == ARGS:
            self.args_edited.emit(item.row(), item.text())
