"""The model editor: add/remove/reorder/edit layers with live shapes; a layer that does
not fit is marked red with the reason and Train is disabled until it fits."""
import json

from PySide6 import QtCore, QtWidgets
from PySide6.QtTest import QTest

from gui import modelspec
from gui.app import MainWindow
from gui.state import AppState
from gui.widgets.layertable import BAD

from helpers.qt import wait_until


def window(qtbot, tmp_path):
    st = AppState()
    st.set_data(name="MNIST", root=str(tmp_path / "no-data-here"))
    st.set_model(source="zoo", zoo_name="mnist_cnn")
    win = MainWindow(st, load_settings=False)
    qtbot.addWidget(win)
    win.show()
    return win


def type_into(edit: QtWidgets.QLineEdit, text: str):
    edit.setFocus()
    edit.selectAll()
    QTest.keyClick(edit, QtCore.Qt.Key_Backspace)
    QTest.keyClicks(edit, text)


def test_invalid_edit_disables_train_and_shows_reason(qtbot, tmp_path, shared_data):
    win = window(qtbot, tmp_path)
    mp, tp = win.model_panel, win.train_panel
    win.state.set_data(root=str(shared_data))              # Start also needs the data (issue 17)
    win.worker.load_data()
    assert wait_until(qtbot, tp.start_btn.isEnabled, 60)
    mp.edit_copy.click()
    assert win.state.model.source == "custom" and mp.editable
    assert mp.table.rowCount() == 10 and mp.table.item(9, 3).text() == "10"
    assert tp.start_btn.isEnabled()

    mp.table.selectRow(3)                                  # the second Conv2d
    assert set(mp.arg_edits) >= {"in_channels", "out_channels", "kernel_size"}
    edit = mp.arg_edits["in_channels"]
    type_into(edit, "7")                                   # every keystroke re-checks
    assert not win.state.model_check["ok"]
    assert not tp.start_btn.isEnabled()
    assert "needs (7, H, W)" in tp.train_reason.text()
    assert "needs (7, H, W)" in mp.status.text()
    assert mp.table.item(3, 0).background().color() == BAD
    assert "needs (7, H, W)" in mp.table.item(3, 0).toolTip()
    assert mp.arg_edits["in_channels"] is edit             # the form is not rebuilt under the typing

    type_into(mp.arg_edits["in_channels"], "6")
    assert win.state.model_check["ok"] and tp.start_btn.isEnabled()
    assert mp.table.item(3, 0).background().color() != BAD

    # the same through the table's Arguments cell
    mp.table.item(7, 2).setText("in_features=95, out_features=50")
    assert not tp.start_btn.isEnabled() and "Linear got input of shape (96,)" in mp.status.text()
    mp.fix_btn.click()
    assert tp.start_btn.isEnabled()


def test_add_remove_reorder_save_load(qtbot, tmp_path):
    win = window(qtbot, tmp_path)
    mp = win.model_panel
    mp.new_btn.click()
    n = mp.table.rowCount()
    assert win.state.model_check["ok"], win.state.model_check["message"]
    mp.table.selectRow(0)
    mp.add_type.setCurrentText("BatchNorm2d")
    mp.add_btn.click()                                     # inserted below row 0, sized from its input
    assert mp.table.rowCount() == n + 1 and mp.table.item(1, 1).text() == "BatchNorm2d"
    assert win.state.model_check["ok"]
    assert mp.table.item(1, 3).text() == "8 × 28 × 28"
    mp.table.selectRow(1)
    mp.down_btn.click()                                    # BatchNorm after the ReLU: still fits
    assert mp.table.item(2, 1).text() == "BatchNorm2d" and win.state.model_check["ok"]
    mp.up_btn.click()
    mp.up_btn.click()                                      # before the conv: 1 channel in, needs 8
    assert mp.table.item(0, 1).text() == "BatchNorm2d" and not win.state.model_check["ok"]
    assert mp.table.item(0, 0).background().color() == BAD
    mp.table.selectRow(0)
    mp.remove_btn.click()
    assert mp.table.rowCount() == n and win.state.model_check["ok"]
    path = tmp_path / "net.json"
    mp.save_spec(str(path))
    spec = json.loads(path.read_text())
    assert spec["type"] == "Sequential" and len(spec["layers"]) == n
    mp.zoo_radio.setChecked(True)
    assert mp.table.rowCount() == 10
    mp.load_spec(str(path))
    assert mp.table.rowCount() == n and win.state.model.source == "custom"


def test_missing_data_message_and_download_failure(qtbot, tmp_path, monkeypatch):
    from gui import backend
    win = window(qtbot, tmp_path)
    dp = win.data_panel
    assert wait_until(qtbot, lambda: win.state.dataset_info is not None, 30)
    assert "not found" in dp.message.text() and dp.download_btn.isVisibleTo(dp)

    def offline(data):
        raise OSError("could not reach any mirror for MNIST: no network")
    monkeypatch.setattr(backend, "download", offline)
    dp.download_btn.click()
    assert wait_until(qtbot, lambda: win._errors, 30)
    assert "no network" in win._errors[-1] and "Download failed" in dp.message.text()


def test_the_form_follows_the_selected_row(qtbot, tmp_path):
    win = window(qtbot, tmp_path)
    mp = win.model_panel
    mp.table.selectRow(0)
    assert mp.arg_edits["out_channels"].text() == "6" and mp.arg_edits["padding"].text() == "0"
    mp.zoo.setCurrentText("alexnet")                       # row 0 is a Conv2d again, with other values
    assert mp.table.currentRow() == 0 and mp.table.item(0, 2).text().startswith("in_channels=1, out_channels=64")
    assert mp.arg_edits["out_channels"].text() == "64" and mp.arg_edits["padding"].text() == "2"
    assert not mp.arg_edits["out_channels"].isEnabled()    # a zoo model is read-only

    mp.edit_copy.click()
    mp.table.selectRow(0)
    assert mp.arg_edits["out_channels"].isEnabled()
    mp.table.item(0, 2).setText("in_channels=1, out_channels=32, kernel_size=3, padding=1")   # the row's cell
    assert mp.table.currentRow() == 0
    assert {n: e.text() for n, e in mp.arg_edits.items() if e.text()} == {
        "in_channels": "1", "out_channels": "32", "kernel_size": "3", "padding": "1"}
    assert mp.type_combo.currentText() == "Conv2d"
    mp.table.selectRow(1)
    assert mp.type_combo.currentText() == mp.table.item(1, 1).text()
    assert set(mp.arg_edits) == {n for n, _ in modelspec.signature(mp.table.item(1, 1).text())}


def test_an_unknown_layer_type_is_one_sentence_and_nothing_on_the_terminal(qtbot, tmp_path, capfd):
    win = window(qtbot, tmp_path)
    mp = win.model_panel
    path = tmp_path / "odd.json"
    path.write_text(json.dumps({"type": "Sequential", "layers": [
        {"type": "Conv2d", "in_channels": 1, "out_channels": 4, "kernel_size": 3}, {"type": "Frobnicate", "size": 3},
        {"type": "Flatten"}]}))
    mp.load_spec(str(path))
    mp.table.selectRow(1)
    mp.table.selectRow(0)
    mp.table.selectRow(1)
    sentence = "unknown layer type 'Frobnicate'; known types: "
    assert mp.form_error.text().startswith(f"Row 2: {sentence}") and mp.form_error.text().count(".") == 0
    assert sentence in mp.status.text() and not win.state.model_check["ok"]
    assert mp.arg_edits == {} and mp.type_combo.currentIndex() == -1 and mp.type_combo.isEnabled()
    assert mp.table.row_is_bad(1)
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err and "KeyError" not in out + err, err
    mp.type_combo.setCurrentText("ReLU")                   # picking a type replaces the row
    assert mp.table.item(1, 1).text() == "ReLU" and not mp.table.row_is_bad(1)


def test_a_selected_row_that_does_not_fit_still_reads_red(qtbot, tmp_path):
    win = window(qtbot, tmp_path)
    mp = win.model_panel
    mp.edit_copy.click()
    mp.table.item(3, 2).setText("in_channels=7, out_channels=16, kernel_size=5")
    assert mp.table.row_is_bad(3)
    mp.table.setFocus()

    def colour(row):
        rect = mp.table.visualItemRect(mp.table.item(row, 1))
        return mp.table.viewport().grab().toImage().pixelColor(rect.left() + 2, rect.center().y())

    mp.table.selectRow(3)
    bad = colour(3)
    assert bad.red() > bad.green() + 60 and bad.red() > bad.blue() + 60, bad.name()
    mp.table.selectRow(2)
    good = colour(2)                                       # a row that fits: the usual selection colour
    assert not (good.red() > good.green() + 60 and good.red() > good.blue() + 60), good.name()
    unselected = colour(3)
    assert unselected.name() == BAD.name()
