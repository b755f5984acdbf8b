"""New dataset… (issue 17.3): the dialog counts a folder's classes from its listing,
previews them, explains what stops it in one sentence, and Create saves a definition that
loads with the chosen shape; the Data tab makes it the dataset, names it in its success
line, lists it after a restart, and its class-count chart follows Use images."""
import numpy as np
import pytest
from PySide6 import QtCore
from PySide6.QtTest import QTest

from datasets import definition as D
from gui.app import MainWindow
from gui.panels import data as data_panel
from gui.panels.dataset_creator import DatasetCreator, definitions_folder
from gui.state import AppState
from helpers.dataset_files import encode, write_tree
from helpers.photo_folders import stripes, write_photos
from helpers.qt import wait_until


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMBACNN_CACHE", str(tmp_path / "cache"))


def _table(dialog):
    return [(dialog.counts.item(r, 0).text(), dialog.counts.item(r, 1).text()) for r in range(dialog.counts.rowCount())]


def _choose(dialog, h=12, w=16, resize="crop", color="grayscale", val=25):
    dialog.size_h.setValue(h)
    dialog.size_w.setValue(w)
    dialog.resize_mode.setCurrentIndex(dialog.resize_mode.findData(resize))
    dialog.color.setCurrentIndex(dialog.color.findData(color))
    dialog.val.setValue(val)


def test_counts_preview_and_create(qtbot, tmp_path):
    photos = write_photos(tmp_path / "photos")
    dialog = DatasetCreator(tmp_path / "defs", str(photos))
    qtbot.addWidget(dialog)
    assert _table(dialog) == [("cat", "3"), ("dog", "4")] and dialog.total.text() == "<b>2 classes</b>, 7 images"
    assert dialog.name.text() == "photos" and dialog.preview.count == 2
    _choose(dialog)
    assert dialog.create_btn.isEnabled()
    assert "Create saves" in dialog.message.text() and "5 training and 2 validation images of 12×16" in dialog.message.text()
    qtbot.mouseClick(dialog.create_btn, QtCore.Qt.LeftButton)
    assert dialog.result() == DatasetCreator.Accepted
    path = tmp_path / "defs" / "photos.json"
    assert dialog.created.path == str(path) and path.is_file()
    made = D.load(path)
    assert (made.size, made.resize, made.color, made.val_fraction) == ((12, 16), "crop", "grayscale", 0.25)
    train, val = made.open(train=True), made.open(train=False)
    assert train.data.shape == (5, 12, 16) and val.data.shape == (2, 12, 16)


def test_what_stops_create_is_one_sentence(qtbot, tmp_path):
    dialog = DatasetCreator(tmp_path / "defs")
    qtbot.addWidget(dialog)
    assert not dialog.create_btn.isEnabled() and "Choose a folder" in dialog.message.text()
    assert "#555" in dialog.message.text()                               # a hint until something is chosen
    flat = write_tree(tmp_path / "flat", {"0.png": encode(stripes(4, 4))})
    dialog.set_source(str(flat))
    assert not dialog.create_btn.isEnabled() and dialog.counts.rowCount() == 0 and "#a00000" in dialog.message.text()
    assert "this folder has no class subfolders with images: put each class's images" in dialog.message.text()
    write_tree(tmp_path / "one", {"cat/0.png": encode(stripes(4, 4))})
    dialog.set_source(str(tmp_path / "one"))
    assert _table(dialog) == [("cat", "1")] and "only one class folder (cat)" in dialog.message.text()
    assert not dialog.create_btn.isEnabled()
    (tmp_path / "defs").mkdir()
    (tmp_path / "defs" / "photos.json").write_text("the user's own file")
    dialog.set_source(str(write_photos(tmp_path / "photos")))
    assert "A dataset named 'photos' already exists" in dialog.message.text()
    assert not dialog.create_btn.isEnabled()
    dialog.name.setText("a/b")
    dialog.name.textEdited.emit("a/b")
    assert "dataset name 'a/b'" in dialog.message.text() and not dialog.create_btn.isEnabled()
    dialog.name.setText("pets")
    dialog.name.textEdited.emit("pets")
    assert dialog.create_btn.isEnabled()
    assert (tmp_path / "defs" / "photos.json").read_text() == "the user's own file"
    dialog.name.setText("photos")
    dialog.save_in(tmp_path / "elsewhere")
    assert str(tmp_path / "elsewhere" / "photos.json") in dialog.message.text()
    dialog.create()
    assert dialog.created.path == str(tmp_path / "elsewhere" / "photos.json")


def _window(qtbot, folder="", **data):
    state = AppState()
    state.set_data(name="ImageFolder", folder=str(folder), **data)
    win = MainWindow(state, load_settings=False)
    qtbot.addWidget(win)
    win.show()
    return win


def _loaded(qtbot, win):
    return wait_until(qtbot, lambda: win.state.dataset_info is not None and not win.state.busy, 60)


def test_the_data_tab_creates_uses_and_lists_a_dataset(qtbot, tmp_path, monkeypatch):
    photos = write_photos(tmp_path / "photos")
    win = _window(qtbot, photos)
    dp = win.data_panel
    assert _loaded(qtbot, win)
    assert "the images differ in size" in dp.message.text() and "New dataset" in dp.message.text()
    assert dp.message.text().count(str(photos)) == 1          # named once, at the start of the sentence

    def run_dialog(dialog):
        assert dialog.source.text() == str(photos)          # starts from the Data tab's folder
        _choose(dialog, h=20, w=20, resize="fill", color="color", val=25)
        dialog.create()
        return dialog.result()

    monkeypatch.setattr(data_panel.DatasetCreator, "exec", run_dialog)
    win.state.dataset_info = None
    dp.new_dataset.click()
    path = definitions_folder(win.state) / "photos.json"
    assert win.state.data.folder == str(path) and win.state.data.val_fraction == 0.0
    assert _loaded(qtbot, win) and not win.state.dataset_info.get("error")
    info = win.state.dataset_info
    assert info["shape"] == (3, 20, 20) and info["total"] == 5 and info["test"] == 2
    assert dp.message.text().count("dataset photos read: 20×20 fill (letterbox), colour, 2 classes, 7 images") == 1
    assert str(photos) in dp.message.text()
    assert "train 5 · validation 2 (the dataset's held-out part)" in dp.info.text()
    assert dp.saved.currentText() == "photos" and dp.saved.currentData() == str(path)

    # the class-count chart shows the images used: all, then the first 3 (Use images)
    assert sum(dp.counts.values["images"]) == 5
    dp.limit.setValue(3)
    first = np.asarray(info["targets"])[:3]
    assert dp.counts.values["images"] == np.bincount(first, minlength=2).tolist()
    assert sum(dp.counts.values["images"]) == 3 and "train 3 ·" in dp.info.text()


def test_saved_datasets_are_listed_after_a_restart(qtbot, tmp_path):
    state = AppState()
    folder = definitions_folder(state)
    made = D.create(write_photos(tmp_path / "photos"), size=(8, 8)).save(folder / "pets.json")
    (folder / "broken.json").write_text("{")
    win = _window(qtbot)
    dp = win.data_panel
    names = [dp.saved.itemText(i) for i in range(dp.saved.count())]
    assert names == ["none (a dataset above)", "broken (unreadable)", "pets"]
    assert not dp.saved.model().item(1).isEnabled() and "not valid JSON" in dp.saved.itemData(1, QtCore.Qt.ToolTipRole)
    assert dp.saved.itemData(2, QtCore.Qt.ToolTipRole) == made.summary()
    dp.saved.activated.emit(2)
    assert win.state.data.folder == made.path
    assert _loaded(qtbot, win) and win.state.dataset_info["shape"] == (3, 8, 8)


def test_typing_a_saved_datasets_path_uses_its_split(qtbot, tmp_path):
    made = D.create(write_photos(tmp_path / "photos"), size=(8, 8)).save(tmp_path / "pets.json")
    win = _window(qtbot, val_fraction=0.2)
    dp = win.data_panel
    dp.folder.setText(made.path)
    dp.folder.editingFinished.emit()
    assert win.state.data.folder == made.path and win.state.data.val_fraction == 0.0
    assert dp.saved.currentText() == "pets" and dp.saved.currentData() == made.path     # listed though saved elsewhere
    dp.folder.setText(str(tmp_path / "photos"))
    dp.folder.editingFinished.emit()
    assert win.state.data.folder == str(tmp_path / "photos") and dp.saved.currentIndex() == 0


def test_enter_in_the_images_field_scans_and_does_not_create(qtbot, tmp_path):
    photos = write_photos(tmp_path / "photos")
    dialog = DatasetCreator(tmp_path / "defs")
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.activateWindow()
    dialog.source.setFocus()
    assert wait_until(qtbot, dialog.source.hasFocus, 10)
    QTest.keyClicks(dialog.source, str(photos))
    QTest.keyClick(dialog.source, QtCore.Qt.Key_Return)
    assert _table(dialog) == [("cat", "3"), ("dog", "4")] and dialog.create_btn.isEnabled()
    assert dialog.isVisible() and dialog.created is None and not (tmp_path / "defs").exists()
    dialog.name.setFocus()
    assert wait_until(qtbot, dialog.name.hasFocus, 10)
    QTest.keyClick(dialog.name, QtCore.Qt.Key_Return)             # Enter elsewhere is Create
    assert dialog.created is not None and (tmp_path / "defs" / "photos.json").is_file()
