"""Evaluate tab, "why did it say that?": an opened image's softmax over every class and
the Grad-CAM heat map of the predicted class, from a loaded checkpoint's model."""
import numpy as np
from PIL import Image

import engine
from engine.explain import explain, overlay
from engine.train import save_checkpoint
from helpers.qt import wait_until


def test_an_opened_image_shows_its_softmax_and_grad_cam(make_window, qtbot, tmp_path):
    engine.manual_seed(0)
    model = engine.models.get("mnist_cnn")
    ckpt = tmp_path / "m.npz"
    names = [str(i) for i in range(10)]
    save_checkpoint(ckpt, model, {"input_shape": [1, 28, 28],
                                  "metadata": {"class_names": names, "input_shape": [1, 28, 28],
                                               "normalize": {"mean": [0.1307], "std": [0.3081]}}})
    win = make_window()
    loaded = []
    win.worker.load_checkpoint(str(ckpt), done=loaded.append)
    assert wait_until(qtbot, lambda: loaded, 30)
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255
    path = tmp_path / "digit.png"
    Image.fromarray(digit).save(path)
    ep = win.evaluate_panel
    one = ep.one
    ep.predict(str(path))
    assert wait_until(qtbot, lambda: win.state.prediction is not None, 30)
    e = win.state.prediction["explanation"]
    assert e.layer == "3" and e.target == e.predicted and len(e.probabilities) == 10
    assert one.pred_bars.values["p"] == list(100 * e.probabilities)
    assert f"Grad-CAM of <b>{e.class_names[e.target]}</b> at layer 3" in one.pred_text.text()
    assert not one.cam_image.pixmap().isNull()
    x = (digit[None].astype(np.float32) / 255 - 0.1307) / 0.3081
    want = explain(engine.train.load_checkpoint(ckpt).build_model(), x, class_names=names)
    np.testing.assert_allclose(e.heatmap, want.heatmap, atol=1e-6)
    assert overlay(win.state.prediction["image"], e.heatmap).shape == (28, 28, 3)
    assert [one.cam_layer.itemText(i) for i in range(one.cam_layer.count())] == ["0 Conv2d", "3 Conv2d"]
    assert one.cam_class.count() == 10 and one.cam_class.currentIndex() == e.target
    other = (e.target + 3) % 10
    one.cam_layer.setCurrentIndex(0)
    one.cam_class.setCurrentIndex(other)
    one.re_explain()
    assert wait_until(qtbot, lambda: win.state.prediction["explanation"].layer == "0", 30)
    e = win.state.prediction["explanation"]
    assert e.target == other and one.cam_layer.currentData() == "0" and one.cam_class.currentIndex() == other
    want = explain(engine.train.load_checkpoint(ckpt).build_model(), x, layer="0", target=other)
    np.testing.assert_allclose(e.heatmap, want.heatmap, atol=1e-6)
