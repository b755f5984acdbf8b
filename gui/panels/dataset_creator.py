"""New dataset… (the Data tab), as DIGITS makes datasets: pick a folder or archive of
class folders, see its classes and image counts (from the file listing, nothing
decoded) and a preview of one image per class, set the image size, resize mode, colour
and the per-class validation split; Create saves the definition
(:mod:`datasets.definition`) in the studio's ``<runs folder>/datasets/`` and the Data
tab makes it the current dataset."""
from __future__ import annotations

import html
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from datasets import DatasetError
from datasets import definition as D
from datasets.archive import ARCHIVE_SUFFIXES

from .. import state as S
from ..widgets.images import ImageGrid
from ..widgets.spin import spin_box

RESIZE_TIPS = {
    "squash": "stretch every image to the size (the whole image, its proportions changed)",
    "crop": "scale every image to cover the size and keep its centre (proportions kept, edges cut off)",
    "fill": "scale every image to fit inside the size and centre it on black (proportions kept, bars added)",
}
ARCHIVE_FILTER = f"Archives ({' '.join('*' + s for s in ARCHIVE_SUFFIXES)})"
ERROR, NOTE = "#a00000", "#555"
PREVIEW = 64        # pixels of a preview thumbnail


def definitions_folder(state: S.AppState) -> Path:
    """Where the studio keeps dataset definitions: ``datasets/`` in its runs folder."""
    runs = Path(state.hyper.runs_dir).expanduser() if state.hyper.runs_dir else S.default_runs_dir()
    return runs / "datasets"


def source_name(source) -> str:
    """A dataset name from a folder or archive path ("photos.tar.gz" -> "photos")."""
    name = Path(source).name
    for suffix in sorted(ARCHIVE_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[:-len(suffix)]
    return name


class DatasetCreator(QtWidgets.QDialog):
    """The New dataset… dialog. ``folder``: where Create saves the definition;
    ``source``: a folder or archive to start from ("" for none). After Create,
    ``created`` is the saved DatasetDefinition (its ``path`` set)."""

    def __init__(self, folder: Path, source: str = "", parent=None):
        super().__init__(parent)
        self.setWindowTitle("New dataset")
        self.folder = Path(folder)
        self.scan: D.Scan | None = None
        self.created: D.DatasetDefinition | None = None
        self._named_after = ""          # the name field holds the name made from this source
        self._scanned = ""              # the source text last scanned

        self.source = QtWidgets.QLineEdit()
        self.source.setPlaceholderText("folder of class folders, or an archive")
        self.pick_folder = QtWidgets.QPushButton("Folder…")
        self.pick_archive = QtWidgets.QPushButton("Archive…")
        self.name = QtWidgets.QLineEdit()
        self.name.setPlaceholderText("the dataset's name")
        self.size_h = spin_box(1, 1024, 32, suffix=" px")
        self.size_w = spin_box(1, 1024, 32, suffix=" px")
        self.resize_mode = QtWidgets.QComboBox()
        for key, title in D.RESIZE_TITLES.items():
            self.resize_mode.addItem(title.capitalize(), key)
            self.resize_mode.setItemData(self.resize_mode.count() - 1, RESIZE_TIPS[key], QtCore.Qt.ToolTipRole)
        self.color = QtWidgets.QComboBox()
        self.color.addItem("Colour (RGB)", "color")
        self.color.addItem("Grayscale", "grayscale")
        self.val = spin_box(1, 90, 10, suffix=" % of each class")
        self.seed = spin_box(0, 999_999, 0)
        self.seed.setToolTip("the validation images are drawn with this seed: the same seed, the same split")

        source_row = QtWidgets.QHBoxLayout()
        source_row.addWidget(self.source, 1)
        source_row.addWidget(self.pick_folder)
        source_row.addWidget(self.pick_archive)
        size_row = QtWidgets.QHBoxLayout()
        size_row.addWidget(self.size_h)
        size_row.addWidget(QtWidgets.QLabel("×"))
        size_row.addWidget(self.size_w)
        size_row.addStretch(1)
        form = QtWidgets.QFormLayout()
        form.addRow("Images", source_row)
        form.addRow("Name", self.name)
        form.addRow("Size (height × width)", size_row)
        form.addRow("Resize", self.resize_mode)
        form.addRow("Colour", self.color)
        form.addRow("Validation", self.val)
        form.addRow("Split seed", self.seed)
        self.where = QtWidgets.QLabel(str(self.folder))
        self.where.setStyleSheet(f"color: {NOTE};")
        self.where.setWordWrap(True)
        self.pick_where = QtWidgets.QPushButton("Elsewhere…")
        self.pick_where.setToolTip("save the dataset's file in another folder (the Data tab lists the studio's own)")
        where_row = QtWidgets.QHBoxLayout()
        where_row.addWidget(self.where, 1)
        where_row.addWidget(self.pick_where)
        form.addRow("Saved in", where_row)

        self.counts = QtWidgets.QTableWidget(0, 2)
        self.counts.setHorizontalHeaderLabels(["Class", "Images"])
        self.counts.horizontalHeader().setSectionResizeMode(0, QtWidgets.QHeaderView.Stretch)
        self.counts.horizontalHeader().setSectionResizeMode(1, QtWidgets.QHeaderView.ResizeToContents)
        self.counts.verticalHeader().setVisible(False)
        self.counts.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        self.total = QtWidgets.QLabel()
        self.total.setWordWrap(True)
        classes_box = QtWidgets.QGroupBox("Classes (counted from the file listing)")
        cb = QtWidgets.QVBoxLayout(classes_box)
        cb.addWidget(self.counts, 1)
        cb.addWidget(self.total)
        self.preview = ImageGrid(columns=6, size=PREVIEW)
        preview_box = QtWidgets.QGroupBox("Preview: one image of each class, as the dataset will hold it")
        pb = QtWidgets.QVBoxLayout(preview_box)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.preview)
        row.addStretch(1)
        pb.addLayout(row)
        pb.addStretch(1)

        self.message = QtWidgets.QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        self.buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.Cancel)
        self.create_btn = self.buttons.addButton("Create", QtWidgets.QDialogButtonBox.AcceptRole)

        top = QtWidgets.QHBoxLayout()
        left = QtWidgets.QVBoxLayout()
        left.addLayout(form)
        left.addWidget(preview_box, 1)
        top.addLayout(left, 3)
        top.addWidget(classes_box, 2)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addLayout(top, 1)
        lay.addWidget(self.message)
        lay.addWidget(self.buttons)
        self.resize(820, 560)

        self.source.editingFinished.connect(self._source_edited)
        self.pick_folder.clicked.connect(self._browse_folder)
        self.pick_archive.clicked.connect(self._browse_archive)
        self.pick_where.clicked.connect(self._browse_where)
        self.name.textEdited.connect(lambda _: self._check())
        for spin in (self.size_h, self.size_w, self.val, self.seed):
            spin.valueChanged.connect(lambda _: self._check())
        for combo in (self.resize_mode, self.color):
            combo.currentIndexChanged.connect(lambda _: self._check())
        cancel = self.buttons.button(QtWidgets.QDialogButtonBox.Cancel)
        for button in (self.pick_folder, self.pick_archive, self.pick_where, cancel):
            button.setAutoDefault(False)        # Enter never opens a file dialog nor cancels: it is Create (or nothing)
        self.buttons.rejected.connect(self.reject)
        self.create_btn.clicked.connect(self.create)
        if source:
            self.set_source(source)
        else:
            self._check()

    # -- the source ------------------------------------------------------------------
    def set_source(self, path: str) -> None:
        """Scans the folder or archive ``path`` (its file listing) and shows its classes."""
        path = str(path).strip()
        self.source.setText(path)
        self.scan, self._scanned = None, path
        if path:
            QtWidgets.QApplication.setOverrideCursor(QtCore.Qt.WaitCursor)
            try:
                self.scan = D.scan(path)
            except DatasetError as e:
                self._show_counts([], [])
                self._check(str(e))
                return
            finally:
                QtWidgets.QApplication.restoreOverrideCursor()
            if not self.name.text().strip() or self.name.text() == self._named_after:
                self._named_after = source_name(path)
                self.name.setText(self._named_after)
        self._show_counts(self.scan.classes if self.scan else [], self.scan.counts if self.scan else [])
        self._check()

    def _source_edited(self) -> None:
        if self.source.text().strip() != self._scanned:
            self.set_source(self.source.text())

    def _show_counts(self, classes, counts) -> None:
        self.counts.setRowCount(len(classes))
        for row, (name, n) in enumerate(zip(classes, counts)):
            self.counts.setItem(row, 0, QtWidgets.QTableWidgetItem(name))
            item = QtWidgets.QTableWidgetItem(f"{n:,}")
            item.setTextAlignment(QtCore.Qt.AlignRight | QtCore.Qt.AlignVCenter)
            self.counts.setItem(row, 1, item)
        self.total.setText(f"<b>{len(classes)} classes</b>, {sum(counts):,} images" if classes else "")

    def _browse_folder(self) -> None:
        path = QtWidgets.QFileDialog.getExistingDirectory(self, "Folder of class folders", self.source.text())
        if path:
            self.set_source(path)

    def _browse_archive(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Archive of class folders", self.source.text(),
                                                        f"{ARCHIVE_FILTER};;All files (*)")
        if path:
            self.set_source(path)

    def _browse_where(self) -> None:
        path = QtWidgets.QFileDialog.getExistingDirectory(self, "Save the dataset in", str(self.folder))
        if path:
            self.save_in(path)

    def save_in(self, folder) -> None:
        """Create saves the definition in ``folder`` instead."""
        self.folder = Path(folder)
        self.where.setText(str(self.folder))
        self._check()

    # -- the settings ----------------------------------------------------------------
    def settings(self) -> dict:
        """The dialog's settings as ``Scan.definition`` takes them."""
        return {"size": (self.size_h.value(), self.size_w.value()), "resize": self.resize_mode.currentData(),
                "color": self.color.currentData(), "val_fraction": round(self.val.value() / 100, 4),
                "seed": self.seed.value()}

    def _planned(self) -> tuple[D.DatasetDefinition, Path]:
        """(the definition the settings make, its file); DatasetError for what stops it."""
        if self.scan is None:
            raise DatasetError("Choose a folder (or a .zip/.tar archive) with one sub-folder of images per class.")
        made = self.scan.definition(**self.settings())
        path = D.file_for(self.folder, self.name.text())
        if path.exists():
            raise DatasetError(f"A dataset named {path.stem!r} already exists in {self.folder}: choose another name.")
        return made, path

    def _check(self, problem: str = "") -> None:
        """Shows the preview and what Create would make, or why it cannot."""
        made, shown = None, []
        if not problem and self.scan is not None:
            s = self.settings()
            try:
                shown = self.scan.preview(s["size"], s["resize"], s["color"])
            except DatasetError as e:
                problem = str(e)
        if not problem:
            try:
                made, path = self._planned()
            except DatasetError as e:
                problem = str(e)
        self.preview.set_images([image for _, image in shown], [name for name, _ in shown])
        for thumb in self.preview.cells:         # each thumbnail its own size, its caption under it
            thumb.setFixedSize(PREVIEW + 2, PREVIEW + 2)
        if problem:
            color = NOTE if not self._scanned else ERROR        # nothing chosen yet is a hint, not an error
            self.message.setText(f"<span style='color:{color}'>{html.escape(problem, quote=False)}</span>")
        else:
            train, val = made.parts()
            self.message.setText(f"<span style='color:{NOTE}'>Create saves {html.escape(str(path), quote=False)}: {train:,} "
                                 f"training and {val:,} validation images of {made.size[0]}×{made.size[1]}.</span>")
        self.create_btn.setEnabled(made is not None)
        self.create_btn.setDefault(made is not None)

    def create(self) -> None:
        """Saves the definition and closes the dialog (``created``); or says why not.
        Enter in the Images field only scans it: the counts come before Create."""
        if self.source.hasFocus():
            return
        try:
            made, path = self._planned()
            self.created = made.save(path)
        except DatasetError as e:
            self._check(str(e))
            return
        self.accept()
