"""Evaluate tab, "why did it say that?": an opened image through every layer (the softmax
by class name, the feature maps of any layer, the filters of any convolution, Grad-CAM at
any convolution for any class, all equal to the engine's), the run picker and the
misclassified gallery a page at a time, a clicked thumbnail explained; Inside names a
loaded checkpoint's layers."""
import numpy as np
from PIL import Image
from PySide6 import QtCore

import engine
from datasets.mnist import MNIST
from engine.explain import explain
from engine.train import load_checkpoint, probabilities, save_checkpoint
from gui.panels.evaluate import PAGE
from gui.panels.oneimage import feature_grid
from gui.state import default_runs_dir
from gui.widgets.images import kernel_grid

from helpers.qt import wait_until

NAMES = list(MNIST.classes)            # the studio reads the names of the data at hand
MEAN, STD = 0.1307, 0.3081


def _checkpoint(path):
    engine.manual_seed(3)
    model = engine.models.get("mnist_cnn")
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(path, model, {"input_shape": [1, 28, 28],
                                  "metadata": {"class_names": NAMES, "input_shape": [1, 28, 28],
                                               "normalize": {"mean": [MEAN], "std": [STD]}}})
    return path


def _hooked(model, x):
    """Every leaf layer's output for x (C, H, W), by module name, from forward hooks."""
    out, handles = {}, []
    for name, m in model.named_modules():
        if name and not any(True for _ in m.children()):
            handles.append(m.register_forward_hook(lambda mod, i, y, n=name: out.__setitem__(n, np.array(y.numpy())[0])))
    model.eval()
    model(engine.Tensor(x[None].astype(np.float32)))
    for h in handles:
        h.remove()
    return out


def _load(win, qtbot, path):
    loaded = []
    win.worker.load_checkpoint(str(path), done=loaded.append)
    assert wait_until(qtbot, lambda: loaded, 60)
    return loaded[0]


def test_one_image_every_layer(make_window, qtbot, tmp_path):
    ckpt = _checkpoint(tmp_path / "m.npz")
    win = make_window()
    _load(win, qtbot, ckpt)
    win.tabs.setCurrentWidget(win.inside_panel)           # a loaded checkpoint's layers are named by type there
    assert wait_until(qtbot, lambda: win.inside_panel.image_count() == 10, 60)
    assert list(win.inside_panel.maps.items)[:4] == ["0 Conv2d", "1 ReLU", "2 MaxPool2d", "3 Conv2d"]
    digit = np.zeros((28, 28), np.uint8)
    digit[5:23, 11:16] = 255
    path = tmp_path / "digit.png"
    Image.fromarray(digit).save(path)
    ep = win.evaluate_panel
    one = ep.one
    ep.predict(str(path))
    assert wait_until(qtbot, lambda: one.explanation is not None, 60)
    assert ep.pages.currentWidget() is one
    e = one.explanation
    x = (digit[None].astype(np.float32) / 255 - MEAN) / STD
    model = load_checkpoint(ckpt).build_model()

    # the whole softmax, by class name, sums to 1 and is the model's
    bars = np.array(one.pred_bars.values["p"]) / 100
    np.testing.assert_allclose(bars.sum(), 1.0, atol=1e-9)
    np.testing.assert_allclose(bars, probabilities(model, x[None])[0], atol=1e-6)
    ticks = [t for _, t in one.pred_bars.getAxis("left")._tickLevels[0]]
    assert ticks == [n[:14] for n in NAMES]

    # the feature maps of every layer, as the forward hooks see them
    hooked = _hooked(model, x)
    names = [one.map_layer.itemData(i) for i in range(one.map_layer.count())]
    assert names == list(hooked) and len(names) == 10
    for i, name in enumerate(names):
        one.map_layer.setCurrentIndex(i)
        want, _ = feature_grid(hooked[name])
        np.testing.assert_allclose(one.maps.image, want, atol=1e-5, equal_nan=True)
    one.map_layer.setCurrentIndex(names.index("3"))
    assert "6 channels of 8×8" in one.maps.title.text                # 3 × 2 tiles of 8 × 8, a gap of 1
    assert one.maps.tip_at(9 + 2, 9 * 2 + 5) == f"channel 5, row 2, column 5: {hooked['3'][5, 2, 5]:.4g}"
    assert one.maps.tip_at(8, 3) == "" and one.maps.tip_at(100, 3) == ""
    one.maps.scene().sigMouseMoved.emit(one.maps.item.mapToScene(QtCore.QPointF(9 * 2 + 5.5, 9 + 2.5)))   # the mouse
    assert one.maps.toolTip() == one.maps.tip_at(9 + 2, 9 * 2 + 5)
    one.map_layer.setCurrentIndex(names.index("9"))                 # the scores: 10 values in a 4 × 4 square
    assert one.maps.tip_at(2, 1) == f"value 9: {hooked['9'][9]:.4g}" and one.maps.tip_at(2, 2) == ""

    # the filters of every convolution: every kernel, their mean over the inputs, one input's
    convs = {n: m.weight.numpy() for n, m in model.named_modules() if isinstance(m, engine.nn.Conv2d)}
    assert [one.filter_layer.itemData(i) for i in range(one.filter_layer.count())] == list(convs) == ["0", "3"]
    one.filter_layer.setCurrentIndex(1)
    w = convs["3"]                                              # (6, 6, 5, 5)
    assert one.filter_mode.count() == 2 + 6 and one.filter_mode.currentData() == "all"
    shown = one.filters.image
    assert shown.shape == (6 * 6 - 1, 6 * 6 - 1)
    for o, i in ((0, 0), (5, 5), (3, 2)):
        np.testing.assert_array_equal(shown[o * 6:o * 6 + 5, i * 6:i * 6 + 5], w[o, i])
    assert one.filters.tip_at(3 * 6 + 4, 2 * 6 + 1) == f"output 3, input 2, row 4, column 1: {w[3, 2, 4, 1]:.4g}"
    assert np.isnan(shown[5, :]).all() and np.isnan(shown[:, 5]).all()
    one.filter_mode.setCurrentIndex(one.filter_mode.findData("mean"))
    np.testing.assert_allclose(one.filters.image, kernel_grid(w, "mean"), equal_nan=True)
    np.testing.assert_allclose(one.filters.image[:5, :5], w[0].mean(0), atol=1e-6)
    one.filter_mode.setCurrentIndex(one.filter_mode.findData(4))
    np.testing.assert_array_equal(one.filters.image[:5, :5], w[0, 4])
    assert one.filters.tip_at(6 + 1, 6 * 2 + 3) == f"output 5, row 1, column 3: {w[5, 4, 1, 3]:.4g}"  # 3 × 2 tiles
    assert "input channel 4" in one.filters.title.text

    # Grad-CAM: at the last convolution for the predicted class first, then at any convolution for any class
    assert e.layer == "3" and e.target == e.predicted == int(np.argmax(bars))
    assert one.cam_layer.currentData() == "3" and one.cam_class.currentIndex() == e.target
    assert [one.cam_layer.itemText(i) for i in range(one.cam_layer.count())] == ["0 Conv2d", "3 Conv2d"]
    np.testing.assert_allclose(e.heatmap, explain(model, x).heatmap, atol=1e-6)
    assert f"Grad-CAM of <b>{NAMES[e.target]}</b> at layer 3" in one.pred_text.text()
    assert not one.cam_image.pixmap().isNull() and not one.pred_image.pixmap().isNull()
    other = (e.target + 4) % 10
    one.cam_layer.setCurrentIndex(0)
    one.cam_class.setCurrentIndex(other)
    one.re_explain()
    assert wait_until(qtbot, lambda: one.explanation.layer == "0", 60)
    e = one.explanation
    assert e.target == other and one.cam_class.currentText() == NAMES[other]
    np.testing.assert_allclose(e.heatmap, explain(model, x, layer="0", target=other).heatmap, atol=1e-6)
    assert f"Grad-CAM of <b>{NAMES[other]}</b> at layer 0" in one.pred_text.text()
    assert one.map_layer.currentData() == "9" and one.filter_layer.currentData() == "3"   # the choices stay
    assert not win._errors, win._errors


def test_run_picker_gallery_pages_and_a_clicked_thumbnail(make_window, qtbot, tmp_path):
    run_dir = default_runs_dir() / "mnist_cnn-mnist-3"
    _checkpoint(run_dir / "best.npz")
    win = make_window()
    ep = win.evaluate_panel
    ep.rescan()
    texts = [ep.run_pick.itemText(i) for i in range(ep.run_pick.count())]
    assert "run mnist_cnn-mnist-3 (best.npz) · on disk" in texts
    assert ep.run_pick.currentIndex() == 0 and ep.run_pick.currentText().startswith("no model yet")
    assert not ep.eval_btn.isEnabled()
    ep.choose_run(texts.index("run mnist_cnn-mnist-3 (best.npz) · on disk"))
    assert wait_until(qtbot, lambda: ep.run_pick.currentText() == "run mnist_cnn-mnist-3 (best.npz)", 60)
    assert "run mnist_cnn-mnist-3 (best.npz)</b>: not evaluated yet" in ep.summary.text()
    assert ep.confusion.matrix.size == 0 and ep.per_class.values == {} and ep.page_label.text() == "none"
    texts = [ep.run_pick.itemText(i) for i in range(ep.run_pick.count())]
    assert texts.count("run mnist_cnn-mnist-3 (best.npz)") == 1 and not any("on disk" in t and "mnist_cnn-mnist-3" in t
                                                                           for t in texts)

    ep.split.setCurrentIndex(ep.split.findData("val"))
    qtbot.mouseClick(ep.eval_btn, QtCore.Qt.LeftButton)
    assert wait_until(qtbot, lambda: ep.result is not None, 120)
    r = ep.result
    n = r["wrong_count"]
    assert n > 2 * PAGE and len(r["wrong_index"]) == n            # an untrained model: most of 400 are wrong
    assert ep.page_label.text().startswith(f"32 of {n}") and ep.wrong.count == PAGE
    assert "run mnist_cnn-mnist-3 (best.npz)" in ep.summary.text()
    assert not ep.prev_btn.isEnabled()
    pages = (n + PAGE - 1) // PAGE
    for page in range(1, pages):
        qtbot.mouseClick(ep.next_btn, QtCore.Qt.LeftButton)
        assert wait_until(qtbot, lambda: ep.wrong.count > 0, 30)
    last = n - (pages - 1) * PAGE
    assert ep.page == pages - 1 and ep.wrong.count == last and not ep.next_btn.isEnabled()
    assert ep.page_label.text().startswith(f"{last} of {n} ({n - last + 1}–{n}, page {pages} of {pages})")

    # the last page's last thumbnail is the split's last misclassified image; clicked, it is explained
    model = load_checkpoint(run_dir / "best.npz").build_model()
    ep.one.explanation = None
    qtbot.mouseClick(ep.wrong.cells[last - 1], QtCore.Qt.LeftButton)
    assert wait_until(qtbot, lambda: ep.one.explanation is not None, 60)
    assert ep.pages.currentWidget() is ep.one
    shown = win.state.prediction["image"]
    x = (np.moveaxis(shown, -1, 0).astype(np.float32) / 255 - MEAN) / STD
    p = probabilities(model, x[None])[0]
    assert int(np.argmax(p)) == r["wrong_pred"][-1] != r["wrong_true"][-1]
    assert f"misclassified image {n} of {n}" in ep.one.pred_text.text()
    qtbot.mouseClick(ep.prev_btn, QtCore.Qt.LeftButton)
    assert ep.page == pages - 2 and ep.wrong.count == PAGE        # a page read before is not asked for again

    # another model in memory, then back: each run shows its own evaluation
    _load(win, qtbot, _checkpoint(tmp_path / "other" / "last.npz"))
    assert ep.run_pick.currentText() == "run other (last.npz)" and "not evaluated yet" in ep.summary.text()
    texts = [ep.run_pick.itemText(i) for i in range(ep.run_pick.count())]
    ep.choose_run(texts.index("run mnist_cnn-mnist-3 (best.npz)"))
    assert ep.run_pick.currentText() == "run mnist_cnn-mnist-3 (best.npz)" and ep.result is r
    assert f"{n:,} misclassified" in ep.summary.text() and ep.page_label.text().startswith(f"32 of {n}")
    assert ep.eval_btn.isEnabled()
    win.state.add_run_from_history("overlaid", {}, [])                 # a run drawn from its curves alone
    texts = [ep.run_pick.itemText(i) for i in range(ep.run_pick.count())]
    ep.choose_run(texts.index("overlaid (curves only, no model)"))
    assert ep.run_pick.currentText() == "overlaid (curves only, no model)" and not ep.eval_btn.isEnabled()
    assert "open its checkpoint to evaluate it" in ep.summary.text() and ep.result is None
    assert not win._errors, win._errors
