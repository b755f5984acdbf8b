"""Data tab: dataset choice, data root, saved dataset definitions and New dataset…,
validation split, augmentation; sample images with labels, class counts of the images
used, split sizes; a Download button when data is missing."""
from __future__ import annotations

import html
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtWidgets

from datasets import DatasetError
from datasets import definition as D

from .. import backend
from .. import state as S
from ..widgets.heatmap import BarChart
from ..widgets.images import ImageGrid
from .dataset_creator import DatasetCreator, definitions_folder


class DataPanel(QtWidgets.QWidget):
    def __init__(self, state: S.AppState, worker, parent=None):
        super().__init__(parent)
        self.state, self.worker = state, worker

        # -- the form ---------------------------------------------------------------
        self.dataset = QtWidgets.QComboBox()
        for key in S.DATASETS:
            self.dataset.addItem(backend.DATASET_TITLES[key], key)
        self.root = QtWidgets.QLineEdit()
        self.root.setPlaceholderText("default data folder")
        self.root_browse = QtWidgets.QPushButton("…")
        self.folder = QtWidgets.QLineEdit()
        self.folder.setPlaceholderText("folder or .zip/.tar archive of class folders, or a saved dataset (.json)")
        self.folder_browse = QtWidgets.QPushButton("…")
        self.saved = QtWidgets.QComboBox()
        self.saved.setToolTip("datasets made with New dataset… (their size, resize mode, colour and split)")
        self.new_dataset = QtWidgets.QPushButton("New dataset…")
        self.new_dataset.setToolTip("make a dataset from a folder of class folders: image size, resize mode, "
                                    "colour, validation split")
        self.val = QtWidgets.QDoubleSpinBox()
        self.val.setRange(0.0, 0.5)
        self.val.setSingleStep(0.05)
        self.val.setSuffix(" of training images")
        self.limit = QtWidgets.QSpinBox()
        self.limit.setRange(0, 10_000_000)
        self.limit.setSingleStep(1000)
        self.limit.setSpecialValueText("all")
        self.limit.setToolTip("Train on only the first N images of a shuffled order (0: all) — for quick experiments")
        self.normalize = QtWidgets.QCheckBox("Normalize (per-channel mean/std)")
        self.augment = QtWidgets.QGroupBox("Augmentation (training only)")
        self.augment.setCheckable(True)
        self.crop = QtWidgets.QCheckBox("Random crop, padding")
        self.pad = QtWidgets.QSpinBox()
        self.pad.setRange(0, 16)
        self.flip = QtWidgets.QCheckBox("Random horizontal flip")
        self.jitter = QtWidgets.QCheckBox("Colour jitter (brightness/contrast/saturation 0.3)")
        self.reshuffle = QtWidgets.QPushButton("New random draw")
        ag = QtWidgets.QGridLayout(self.augment)
        ag.addWidget(self.crop, 0, 0)
        ag.addWidget(self.pad, 0, 1)
        ag.addWidget(self.flip, 1, 0, 1, 2)
        ag.addWidget(self.jitter, 2, 0, 1, 2)
        ag.addWidget(self.reshuffle, 3, 0, 1, 2)

        self.load_btn = QtWidgets.QPushButton("Load / refresh")
        self.download_btn = QtWidgets.QPushButton("Download")
        self.download_btn.setVisible(False)
        self.message = QtWidgets.QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)

        form = QtWidgets.QFormLayout()
        form.addRow("Dataset", self.dataset)
        r = QtWidgets.QHBoxLayout()
        r.addWidget(self.root, 1)
        r.addWidget(self.root_browse)
        form.addRow("Data root", r)
        f = QtWidgets.QHBoxLayout()
        f.addWidget(self.folder, 1)
        f.addWidget(self.folder_browse)
        self.folder_row = QtWidgets.QWidget()
        self.folder_row.setLayout(f)
        f.setContentsMargins(0, 0, 0, 0)
        form.addRow("Image folder", self.folder_row)
        n = QtWidgets.QHBoxLayout()
        n.addWidget(self.saved, 1)
        n.addWidget(self.new_dataset)
        form.addRow("Saved dataset", n)
        form.addRow("Validation", self.val)
        form.addRow("Use images", self.limit)
        form.addRow(self.normalize)

        left = QtWidgets.QVBoxLayout()
        left.addLayout(form)
        left.addWidget(self.augment)
        b = QtWidgets.QHBoxLayout()
        b.addWidget(self.load_btn)
        b.addWidget(self.download_btn)
        left.addLayout(b)
        left.addWidget(self.message)
        self.info = QtWidgets.QLabel()
        self.info.setWordWrap(True)
        left.addWidget(self.info)
        self.counts = BarChart("Images per class", "images")
        self.counts.setMinimumHeight(220)
        self.counts.setMinimumHeight(180)
        left.addWidget(self.counts, 1)
        leftw = QtWidgets.QWidget()
        leftw.setLayout(left)
        leftw.setMaximumWidth(430)

        # -- the samples ------------------------------------------------------------
        self.samples = ImageGrid(columns=10, size=52)
        self.augmented = ImageGrid(columns=10, size=52)
        self.samples_box = QtWidgets.QGroupBox("Samples")
        QtWidgets.QVBoxLayout(self.samples_box).addWidget(self.samples)
        self.aug_box = QtWidgets.QGroupBox("The same images, augmented")
        QtWidgets.QVBoxLayout(self.aug_box).addWidget(self.augmented)
        right = QtWidgets.QVBoxLayout()
        right.addWidget(self.samples_box)
        right.addWidget(self.aug_box)
        right.addStretch(1)
        rightw = QtWidgets.QWidget()
        rightw.setLayout(right)
        scroll = QtWidgets.QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(rightw)

        lay = QtWidgets.QHBoxLayout(self)
        lay.addWidget(leftw)
        lay.addWidget(scroll, 1)

        self._list_saved()
        self._sync_from_state()
        self.dataset.currentIndexChanged.connect(self._dataset_changed)
        self.saved.activated.connect(self._saved_chosen)
        self.new_dataset.clicked.connect(self.create_dataset)
        self.root.editingFinished.connect(lambda: self._set(root=self.root.text().strip()))
        self.folder.editingFinished.connect(lambda: self._folder_chosen(self.folder.text().strip()))
        self.root_browse.clicked.connect(self._browse_root)
        self.folder_browse.clicked.connect(self._browse_folder)
        self.val.valueChanged.connect(lambda v: self._set(val_fraction=round(v, 4), reload=False))
        self.limit.valueChanged.connect(lambda v: self._set(limit=v, reload=False))
        self.normalize.toggled.connect(lambda v: self._set(normalize=v, reload=False))
        self.augment.toggled.connect(lambda v: self._set_aug(augment=v))
        self.crop.toggled.connect(lambda v: self._set_aug(random_crop=v))
        self.pad.valueChanged.connect(lambda v: self._set_aug(crop_padding=v))
        self.flip.toggled.connect(lambda v: self._set_aug(hflip=v))
        self.jitter.toggled.connect(lambda v: self._set_aug(color_jitter=v))
        self.reshuffle.clicked.connect(self._new_draw)
        self.load_btn.clicked.connect(self.worker.load_data)
        self.download_btn.clicked.connect(self.worker.download_data)
        state.subscribe(self._on_info, S.SAMPLES)
        state.subscribe(lambda **kw: self._sync_from_state(), S.DATA)
        self._draw_seed = 0

    # -- form <-> state -----------------------------------------------------------------
    def _sync_from_state(self):
        d = self.state.data
        widgets = (self.dataset, self.root, self.folder, self.val, self.limit, self.normalize, self.augment,
                   self.crop, self.pad, self.flip, self.jitter)
        for w in widgets:
            w.blockSignals(True)
        self.dataset.setCurrentIndex(max(0, self.dataset.findData(d.name)))
        self.root.setText(d.root)
        self.root.setPlaceholderText(backend.data_root(S.DataSettings()))
        self.folder.setText(d.folder)
        self.val.setValue(d.val_fraction)
        self.limit.setValue(d.limit)
        self.normalize.setChecked(d.normalize)
        self.augment.setChecked(d.augment)
        self.crop.setChecked(d.random_crop)
        self.pad.setValue(d.crop_padding)
        self.flip.setChecked(d.hflip)
        self.jitter.setChecked(d.color_jitter)
        for w in widgets:
            w.blockSignals(False)
        self.folder_row.setEnabled(d.name == "ImageFolder")
        self.aug_box.setVisible(d.augment)
        if self.saved.findData(self._definition_path()) < 0:
            self._list_saved()
        self.saved.setCurrentIndex(max(0, self.saved.findData(self._definition_path())))

    def _set(self, reload=True, **values):
        self.state.set_data(**values)
        if reload:
            self.worker.load_data()
        else:
            self._refresh_split()

    def _set_aug(self, **values):
        self.state.set_data(**values)
        self.aug_box.setVisible(self.state.data.augment)
        self.worker.augment_preview(self._draw_seed)

    def _new_draw(self):
        self._draw_seed += 1
        self.worker.augment_preview(self._draw_seed)

    def _dataset_changed(self, _):
        self._set(name=self.dataset.currentData())

    # -- saved dataset definitions --------------------------------------------------------
    def _definition_path(self) -> str:
        """The current dataset's definition file, or "" when it is not one."""
        d = self.state.data
        return d.folder if d.name == "ImageFolder" and d.folder and D.is_definition(d.folder) else ""

    def _list_saved(self):
        """Fills the Saved dataset list from the studio's datasets folder (a broken file is listed, disabled, with
        the reason as its tooltip)."""
        self.saved.blockSignals(True)
        self.saved.clear()
        listed = D.saved(definitions_folder(self.state))
        self.saved.addItem("none (a dataset above)" if listed else "none yet: New dataset…", "")
        for path, made in listed:
            if isinstance(made, DatasetError):
                self.saved.addItem(f"{path.stem} (unreadable)", str(path))
                self.saved.model().item(self.saved.count() - 1).setEnabled(False)
                self.saved.setItemData(self.saved.count() - 1, str(made), QtCore.Qt.ToolTipRole)
            else:
                self.saved.addItem(made.name, str(path))
                self.saved.setItemData(self.saved.count() - 1, made.summary(), QtCore.Qt.ToolTipRole)
        current = self._definition_path()
        if current and self.saved.findData(current) < 0:       # one saved elsewhere, in use
            self.saved.addItem(Path(current).stem, current)
            self.saved.setItemData(self.saved.count() - 1, current, QtCore.Qt.ToolTipRole)
        self.saved.setCurrentIndex(max(0, self.saved.findData(current)))
        self.saved.blockSignals(False)

    def showEvent(self, event):
        """The Saved dataset list is read again each time the tab is shown (another window may have made one)."""
        self._list_saved()
        super().showEvent(event)

    def _saved_chosen(self, index):
        path = self.saved.itemData(index)
        if path:
            self.use_definition(path)

    def _folder_chosen(self, path: str):
        """A folder or archive is the dataset as it is; a saved dataset (.json) with its own split."""
        if path and D.is_definition(path):
            self.use_definition(path)
        else:
            self._set(folder=path)

    def use_definition(self, path: str):
        """Makes the definition at ``path`` the dataset: its images, validated on its own held-out part."""
        self._set(name="ImageFolder", folder=str(path), val_fraction=0.0)

    def create_dataset(self):
        """New dataset…: the dialog, then the definition it saved as the dataset."""
        d = self.state.data
        start = d.folder if d.name == "ImageFolder" and d.folder and not D.is_definition(d.folder) else ""
        dialog = DatasetCreator(definitions_folder(self.state), start, self)
        if dialog.exec() and dialog.created is not None:
            self._list_saved()
            self.use_definition(dialog.created.path)

    def _browse_root(self):
        path = QtWidgets.QFileDialog.getExistingDirectory(self, "Data root", self.root.text() or "")
        if path:
            self.root.setText(path)
            self._set(root=path)

    def _browse_folder(self):
        dlg = QtWidgets.QFileDialog(self, "Image folder, archive or saved dataset")
        dlg.setFileMode(QtWidgets.QFileDialog.AnyFile)
        dlg.setNameFilter("Folders, archives or saved datasets (*.zip *.tar *.tar.gz *.tgz *.json);;All files (*)")
        if dlg.exec():
            path = dlg.selectedFiles()[0]
            self.folder.setText(path)
            self._folder_chosen(path)

    # -- the dataset's information ----------------------------------------------------
    def _on_info(self, info=None):
        info = info or {}
        if info.get("error"):
            where = "" if self._source() in info["error"] else \
                f"<br><span style='color:#555'>Looked in: {html.escape(self._source(), quote=False)}</span>"
            self.message.setText(f"<b style='color:#a00000'>{html.escape(info['error'], quote=False)}</b>{where}")
            self.download_btn.setVisible(bool(info.get("can_download")))
            self.info.setText("")
            self.samples.set_images([])
            self.augmented.set_images([])
            self.counts.set_bars([], {})
            return
        self.download_btn.setVisible(False)
        self.message.setText(f"<span style='color:#2a6'>✓ {html.escape(self._read_line(info), quote=False)}</span>")
        classes = info["classes"]
        labels = [classes[int(t)] for t in info["sample_labels"]]
        self.samples.set_images(list(info["samples"]), labels)
        self.samples_box.setTitle(f"Samples ({len(labels)} of {info['total']:,})")
        aug = info.get("augmented")
        if aug is not None:
            self.augmented.set_images(list(aug), labels)
        self.aug_box.setVisible(self.state.data.augment)
        self._refresh_split()

    def _source(self) -> str:
        """Where the dataset is read from: the image folder, archive or definition, else the data root."""
        d = self.state.data
        return str(Path(d.folder).expanduser()) if d.name == "ImageFolder" and d.folder else backend.data_root(d)

    def _read_line(self, info) -> str:
        """The success line: what was read, from where."""
        path = self._definition_path()
        if path:
            try:
                made = D.load(path)
            except DatasetError as e:       # changed on disk since it was read
                return f"{path} read ({e})"
            return f"dataset {made.name} read: {made.summary()}"
        if self.state.data.name == "ImageFolder":
            return f"{self._source()} read"
        return f"{backend.DATASET_TITLES.get(info.get('name'), '')} read from {self._source()}"

    def _used(self, n: int) -> int:
        """How many of the ``n`` training images a run uses (Use images; 0: all)."""
        limit = self.state.data.limit
        return min(n, limit) if limit else n

    def _draw_counts(self, info):
        """The class-count chart of the images a run uses: the first Use images of the training set, as the
        recipe takes them."""
        targets = np.asarray(info["targets"])
        used = self._used(len(targets))
        counts = np.bincount(targets[:used], minlength=len(info["classes"]))[:len(info["classes"])]
        self.counts.set_bars(info["classes"], {"images": counts.tolist()}, horizontal=True, max_label=12)
        self.counts.setTitle(f"Images per class ({used:,} used of {len(targets):,})" if used < len(targets)
                             else "Images per class", color="#222", size="11pt")

    def _refresh_split(self):
        info = self.state.dataset_info
        if not info or info.get("error"):
            return
        d = self.state.data
        self._draw_counts(info)
        used = self._used(info["total"])
        n_val = int(round(used * d.val_fraction))
        c, h, w = info["shape"]
        if self._definition_path() and not n_val and info.get("test") is not None:
            split = f"validation {info['test']:,} (the dataset's held-out part)"
        else:
            test = "no test split (evaluation uses validation)" if info.get("test") is None else f"{info['test']:,} test"
            split = f"validation {n_val:,} · {test}"
        self.info.setText(f"<b>{len(info['classes'])} classes</b>, images {c}×{h}×{w}<br>"
                          f"train {used - n_val:,} · {split}")
