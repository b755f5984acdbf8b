"""``ask(...)``: a modal question with one button that goes ahead and Cancel (the quit
confirmation, the warning about a huge step); tests find it by its object name."""
from __future__ import annotations

from PySide6 import QtWidgets


def ask(parent, name: str, text: str, informative: str, go: str,
        icon=QtWidgets.QMessageBox.Question) -> bool:
    """Shows the question (``text``, then ``informative`` in smaller print) and returns
    whether the user pressed ``go``, the default button, rather than Cancel."""
    box = QtWidgets.QMessageBox(parent)
    box.setObjectName(name)
    box.setIcon(icon)
    box.setWindowTitle("numbacnn studio")
    box.setText(text)
    box.setInformativeText(informative)
    go_button = box.addButton(go, QtWidgets.QMessageBox.AcceptRole)
    box.addButton(QtWidgets.QMessageBox.Cancel)
    box.setDefaultButton(go_button)
    box.exec()
    return box.clickedButton() is go_button
