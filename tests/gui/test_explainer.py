"""The convolution explainer (issue 18 part 2): the Qt-free model against the engine's
kernels (output maps, per-cell arithmetic, output sizes, unread rows) and the Explain
tab (what it shows equals what the engine computes; stepping, playing, clicking,
editing, the spin boxes)."""
import subprocess
import sys

import numpy as np
import pytest
from helpers.qt import wait_until
from hypothesis import given, settings
from hypothesis import strategies as st
from PySide6 import QtCore
from PySide6.QtTest import QTest

import engine
from engine import from_numpy, nn
from engine.kernels import conv_output_size
from engine.nn import functional as F
from gui import explainer as X
from gui.backend import InputSpec
from gui.panels.explainer import ExplainerPanel
from gui.state import AppState
from gui.worker import Worker


def _engine(op, planes, k, s, p, kernel=None, bias=0.0, count_include_pad=True):
    """The engine's own output map for planes (C, H, W), straight from engine.nn.functional."""
    x = from_numpy(np.ascontiguousarray(planes[None], np.float32))
    if op == "conv":
        y = F.conv2d(x, from_numpy(np.ascontiguousarray(kernel[None], np.float32)),
                     from_numpy(np.array([bias], np.float32)), s, p)
    elif op == "max":
        y = F.max_pool2d(x, k, s, p)
    else:
        y = F.avg_pool2d(x, k, s, p, count_include_pad=count_include_pad)
    return y.numpy()[0, 0]


# --------------------------------------------------------------------------- the Qt-free model
def test_the_model_imports_no_qt():
    code = "import sys, gui.explainer; print(any(m.startswith(('PySide6', 'pyqtgraph')) for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_output_size_formula_floor_and_unread_rows():
    a = X.Axis("rows", 28, 5, 2, 1)
    assert a.size == 13 and a.exact == 13.5 and a.unread == ()
    assert a.formula() == "(28 + 2×1 − 5)/2 + 1 = 13.5 → 13 (floor)"
    assert "the floor drops the last row of the padded input" in a.explanation()
    assert "every input row is still read" in a.explanation()
    b = X.Axis("rows", 7, 3, 3, 0)
    assert b.formula() == "(7 + 2×0 − 3)/3 + 1 = 7/3 ≈ 2.33 → 2 (floor)" and b.unread == (6,)
    assert "input row 6 is never read" in b.explanation()
    c = X.Axis("columns", 28, 5, 3, 0)
    assert c.unread == (26, 27) and "input columns 26–27 are never read" in c.explanation()
    gaps = X.Axis("columns", 7, 1, 2, 0)
    assert gaps.formula() == "(7 + 2×0 − 1)/2 + 1 = 4" and gaps.unread == (1, 3, 5)
    assert "input columns 1, 3, 5 are skipped between windows" in gaps.explanation()
    assert X.Axis("rows", 8, 4, 2, 0).explanation() == "every input row is read"
    too_big = X.Axis("rows", 5, 7, 1, 0)
    assert too_big.size < 1 and too_big.explanation().startswith("no output: the 7-row window does not fit")
    for n, k, s, p in ((28, 5, 1, 0), (32, 3, 2, 1), (9, 4, 3, 2), (1, 1, 1, 0)):
        ax = X.Axis("rows", n, k, s, p)
        assert ax.size == conv_output_size(n, k, s, p) == int(np.floor(float(ax.exact)))


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 12), k=st.integers(1, 6), s=st.integers(1, 5), p=st.integers(0, 3), seed=st.integers(0, 99))
def test_unread_rows_are_the_rows_the_output_ignores(n, k, s, p, seed):
    """Oracle: the engine's output changes when an input row changes iff some window reads it."""
    if n + 2 * p < k:
        return
    ex = X.Explainer()
    planes = np.random.default_rng(seed).normal(size=(1, n, 3)).astype(np.float32)
    ex.update(planes=planes, op="conv", kernel=np.ones((1, k, 1), np.float32), stride=(s, 1), padding=(p, 0))
    for r in range(n):
        changed = planes.copy()
        changed[0, r] += 100.0
        moved = not np.array_equal(_engine("conv", changed, (k, 1), (s, 1), (p, 0), ex.kernel), ex.output)
        assert moved == (r not in ex.axes[0].unread), (r, ex.axes[0].unread)


@st.composite
def _setups(draw):
    op = draw(st.sampled_from(["conv", "max", "avg"]))
    c = draw(st.integers(1, 3)) if op == "conv" else 1
    h, w = draw(st.integers(1, 10)), draw(st.integers(1, 10))
    k = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    s = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    p = tuple(draw(st.integers(0, ki // 2 if op != "conv" else 3)) for ki in k)
    return op, c, h, w, k, s, p, draw(st.booleans()), draw(st.integers(0, 999))


@settings(max_examples=80, deadline=None)
@given(setup=_setups())
def test_every_cell_and_the_map_equal_the_engine(setup):
    op, c, h, w, k, s, p, include_pad, seed = setup
    if min(conv_output_size(n, ki, si, pi) for n, ki, si, pi in zip((h, w), k, s, p)) < 1:
        return
    rng = np.random.default_rng(seed)
    planes = rng.normal(size=(c, h, w)).astype(np.float32)
    kernel = rng.normal(size=(c,) + k).astype(np.float32)
    bias = float(rng.normal())
    ex = X.Explainer()
    ex.update(planes=planes, op=op, kernel=kernel, bias=bias, kernel_size=k, stride=s, padding=p,
              count_include_pad=include_pad)
    want = _engine(op, planes, k, s, p, kernel, bias, include_pad)
    assert ex.problem == "" and ex.shape == want.shape == (ex.axes[0].size, ex.axes[1].size)
    np.testing.assert_array_equal(ex.output, want)
    for i in range(want.shape[0]):
        for j in range(want.shape[1]):
            cell = ex.cell(i, j)
            assert cell.value == pytest.approx(float(want[i, j]), rel=1e-5, abs=1e-5)
            assert cell.window.shape == (c,) + k and (cell.top, cell.left) == (i * s[0], j * s[1])
            if op == "conv":
                assert cell.products.sum() + bias == pytest.approx(cell.value)
                assert cell.text.endswith(f"= {X.fmt(cell.value)}")
                assert cell.text.count("×") == c * k[0] * k[1]
            elif op == "avg":
                assert cell.text.endswith(f"= {X.fmt(cell.value)}")
            else:
                assert f"= {X.fmt(cell.value)} (input row" in cell.text


def test_max_pooling_pads_with_minus_infinity_and_names_the_winner():
    ex = X.Explainer()
    grid = -np.arange(1, 26, dtype=np.float32).reshape(5, 5)     # all negative: a zero pad would win
    ex.update(planes=grid, op="max", kernel_size=3, stride=2, padding=1)
    np.testing.assert_array_equal(ex.output, _engine("max", grid[None], 3, 2, 1))
    cell = ex.cell(0, 0)
    assert cell.value == -1.0 and "-∞" in cell.text and cell.text.endswith("= -1 (input row 0, column 0)")
    ex.update(op="avg", count_include_pad=False)
    assert ex.cell(0, 0).text.endswith("/ 4 = -4") and ex.output[0, 0] == -4.0
    ex.update(count_include_pad=True)
    assert ex.cell(0, 0).text.endswith("/ 9 = -1.78")


def test_problems_are_shown_and_bad_arguments_refused_in_one_sentence():
    ex = X.Explainer()
    ex.update(planes=np.ones((5, 5)), kernel_size=7)
    assert ex.output is None and ex.total == 0 and ex.problem.startswith("no output: the 7-row window")
    ex.update(kernel_size=3, op="max", padding=2)
    assert ex.output is None and "pads at most half its window" in ex.problem
    ex.update(padding=1)
    assert ex.output is not None and ex.problem == ""
    bad = [dict(stride=0), dict(kernel_size=33), dict(padding=-1), dict(stride=(1, 2, 3)), dict(stride=True),
           dict(planes=np.full((3, 3), np.nan)), dict(planes=np.zeros((1, 1, 3, 3))), dict(planes=np.zeros((0, 3))),
           dict(planes=np.zeros((600, 3))), dict(planes=np.array([["a"]])), dict(op="sum"),
           dict(op="conv", kernel=np.ones((2, 3, 3))), dict(planes=np.ones((2, 5, 5))),
           dict(op="conv", bias=float("nan"))]
    before = ex.output.copy()
    for kw in bad:
        with pytest.raises(ValueError) as err:
            ex.update(**kw)
        msg = str(err.value)
        assert msg.startswith("explainer: ") and "\n" not in msg, kw
    np.testing.assert_array_equal(ex.output, before)          # nothing half-applied
    assert ex.shape == (5, 5)
    for i, j in ((5, 0), (0, -1), (1.0, 0)):
        with pytest.raises(ValueError, match="outside the 5×5 output map"):
            ex.cell(i, j)


def test_cursor_steps_resets_selects_and_wraps():
    ex = X.Explainer()
    heard = []
    ex.subscribe(lambda: heard.append("cursor"), X.CURSOR)
    ex.update(planes=np.arange(16, dtype=np.float32).reshape(4, 4), op="conv", kernel=np.ones((2, 2)), stride=1)
    assert ex.shape == (3, 3) and ex.finished and heard
    ex.reset()
    assert ex.filled == 0 and ex.selected == (0, 0) and np.isnan(ex.shown_output()).all()
    for _ in range(4):
        ex.step()
    assert ex.filled == 4 and ex.selected == (1, 0)
    shown = ex.shown_output()
    assert np.isfinite(shown.reshape(-1)[:4]).all() and np.isnan(shown.reshape(-1)[4:]).all()
    ex.select(2, 1)
    assert ex.selected == (2, 1) and ex.filled == 8
    ex.select(0, 1)
    assert ex.selected == (0, 1) and ex.filled == 8            # an earlier cell keeps the map
    ex.step()                                                  # the map goes on where it stopped
    assert ex.finished and ex.selected == (2, 2)
    ex.step()                                                  # past the end: from the first cell again
    assert ex.filled == 1 and ex.selected == (0, 0)
    ex.select(2, 2)
    ex.update(stride=2)                                        # 2×2 now: the selection is clamped
    assert ex.shape == (2, 2) and ex.selected == (1, 1) and ex.finished


def test_kernels_are_cropped_or_zero_padded_to_the_window():
    k = np.arange(25, dtype=np.float32).reshape(1, 5, 5)
    np.testing.assert_array_equal(X.fit_kernel(k, (3, 3))[0], k[0, 1:4, 1:4])
    padded = X.fit_kernel(k, (7, 6))[0]
    np.testing.assert_array_equal(padded[1:6, 0:5], k[0])
    assert padded.sum() == k.sum()
    ex = X.Explainer()
    ex.update(kernel=k[0], kernel_name="layer 0, filter 1")
    assert ex.kernel_size == (5, 5) and "cropped" not in ex.operation()
    ex.update(kernel_size=3)
    assert "its 5×5 weights cropped to 3×3" in ex.operation() and ex.kernel.shape == (1, 3, 3)
    ex.update(kernel_size=(7, 7))
    assert "zero-padded to 7×7" in ex.operation()
    ex.update(kernel_size=5)
    np.testing.assert_array_equal(ex.kernel, k)                # the layer's weights come back whole


def _model():
    engine.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 5, stride=2, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
                         nn.Conv2d(4, 2, 3), nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False))


def test_model_layers_copy_weights_and_pick_kernels():
    model = _model()
    layers = X.model_layers(model)
    assert [(layer.name, layer.op) for layer in layers] == [("0", "conv"), ("2", "max"), ("3", "conv"), ("4", "avg")]
    conv, pool, _, avg = layers
    assert conv.title == "0 Conv2d 3→4, 5×5, stride 2, padding 1"
    assert pool.title == "2 MaxPool2d 3×3, stride 2, padding 1" and not avg.count_include_pad
    w = model[0].weight.numpy()
    np.testing.assert_array_equal(conv.weight, w)
    model[0].weight.numpy()[:] = 0                             # the copy is the explainer's own
    assert np.abs(conv.weight).sum() > 0
    assert conv.kernel(1).shape == (3, 5, 5) and conv.kernel(1, 2).shape == (1, 5, 5)
    assert conv.bias_of(3) == float(model[0].bias.numpy()[3]) and pool.bias_of(0) == 0.0
    with pytest.raises(ValueError, match="filters 0..3 over input channels 0..2"):
        conv.kernel(4)


def test_a_runs_model_is_used_as_it_is_and_a_checkpoint_without_data_has_no_probe():
    model = _model()
    source = X.load_source({7: (model, InputSpec((3, 20, 20), (0.5,) * 3, (0.2,) * 3, ["a"]), None)}, 7,
                           "run 7 at step 12", None, None, None, probe_index=0)
    assert source.model_name == "run 7 at step 12" and source.probe is None
    assert "no probe image" in source.probe_name and len(source.layers) == 4
    np.testing.assert_array_equal(source.layers[2].weight, model[3].weight.numpy())


# --------------------------------------------------------------------------- the Explain tab
@pytest.fixture
def panel(qtbot, tmp_path):
    """The tab on its own, without data (its engine job fails: no model layers), then
    given a small model and a 3-channel probe image."""
    state = AppState()
    state.set_data(root=str(tmp_path / "no-data"))
    worker = Worker(state)
    p = ExplainerPanel(state, worker)
    qtbot.addWidget(p)
    p.resize(1280, 760)
    p.show()
    assert wait_until(qtbot, lambda: p.source_label.text().startswith("No model layers"), 30)
    assert p.model.output is not None                          # the number grid works without a model
    model = _model()
    probe = np.random.default_rng(1).normal(size=(3, 20, 20)).astype(np.float32)
    p.set_source(X.Source(tuple(X.model_layers(model)), probe, "probe image 0", "test model"))
    yield p
    worker.shutdown(timeout=10)


def _shown(view):
    return view.values[0]


def _pick(combo, text):
    index = combo.findText(text)
    assert index >= 0, (text, [combo.itemText(i) for i in range(combo.count())])
    combo.setCurrentIndex(index)


def test_tab_starts_on_the_first_conv_and_shows_the_engines_output(panel):
    layer = panel.source.layers[0]
    assert panel.layer.currentText() == layer.title and panel.input.currentText() == "Probe image, channel 0"
    assert (panel.kh.value(), panel.sh.value(), panel.ph.value()) == (5, 2, 1)
    panel.filter.setValue(2)
    _pick(panel.input, "Probe image, channel 1")
    assert panel.channel.value() == 1                          # the filter's weights for the channel shown
    probe = panel.source.probe
    want = _engine("conv", probe[1:2], 5, 2, 1, layer.weight[2, 1:2], layer.bias[2])
    np.testing.assert_array_equal(_shown(panel.output_view), want)
    assert panel.formula.text().count("(20 + 2×1 − 5)/2 + 1 = 9.5 → 9 (floor)") == 2
    panel.sh.setValue(3)
    panel.ph.setValue(0)
    np.testing.assert_array_equal(_shown(panel.output_view),
                                  _engine("conv", probe[1:2], 5, (3, 2), (0, 1), layer.weight[2, 1:2], layer.bias[2]))
    _pick(panel.input, "Probe image, all channels (summed)")
    assert not panel.channel.isEnabled()
    np.testing.assert_array_equal(_shown(panel.output_view),
                                  _engine("conv", probe, 5, (3, 2), (0, 1), layer.weight[2], layer.bias[2]))
    assert panel.input_view.values.shape == (3, 20, 22)
    assert panel.mac.toPlainText().count("channel ") == 3


def test_clicking_a_cell_writes_out_its_multiply_accumulate(panel, qtbot):
    view = panel.output_view
    i, j = 4, 6
    qtbot.mouseClick(view, QtCore.Qt.LeftButton, pos=view.cell_rect(0, i, j).center().toPoint())
    assert panel.model.selected == (i, j) and view.selected == (i, j)
    value = panel.model.output[i, j]
    text = panel.mac.toPlainText()
    assert text.startswith(f"output row {i}, column {j}:") and text.count("×") == 25
    assert float(text.rsplit("= ", 1)[1]) == pytest.approx(float(value), rel=5e-3, abs=1e-3)
    layer = panel.source.layers[0]
    cell = panel.model.cell(i, j)
    assert cell.products.sum() + layer.bias[0] == pytest.approx(float(value), rel=1e-5, abs=1e-6)
    top, left, kh, kw = panel.input_view.window
    assert (top, left, kh, kw) == (i * 2, j * 2, 5, 5)
    np.testing.assert_array_equal(panel.window_view.values, cell.window)


def test_non_integral_size_shows_the_floor_and_the_unread_rows(panel):
    _pick(panel.layer, "Your kernel (convolution)")
    _pick(panel.input, "Number grid")
    for spin, v in ((panel.kh, 3), (panel.kw, 3), (panel.sh, 3), (panel.sw, 3), (panel.ph, 0), (panel.pw, 0)):
        spin.setValue(v)
    assert panel.formula.text().count("(7 + 2×0 − 3)/3 + 1 = 7/3 ≈ 2.33 → 2 (floor)") == 2
    assert "output map <b>2 × 2</b>" in panel.formula.text()
    why = panel.why.text()
    assert "input row 6 is never read" in why and "input column 6 is never read" in why and "floor" in why
    assert panel.input_view.unread_rows == (6,) and panel.input_view.unread_cols == (6,)
    panel.ph.setValue(1)                                       # (7 + 2 - 3)/3 + 1 = 3: every row read
    assert "(7 + 2×1 − 3)/3 + 1 = 3" in panel.formula.text() and panel.input_view.unread_rows == ()
    assert "every input row is read" in panel.why.text()


def test_spin_boxes_update_the_formula_and_the_output_size(panel):
    _pick(panel.input, "Probe image, channel 0")
    sizes = []
    for spin, v in ((panel.kh, 3), (panel.sh, 1), (panel.pw, 3), (panel.kw, 7)):
        spin.setValue(v)
        sizes.append(panel.model.shape)
        ho, wo = panel.model.shape
        assert f"output map <b>{ho} × {wo}</b>" in panel.formula.text()
        assert panel.output_view.values.shape == (1, ho, wo)
    assert sizes == [(10, 9), (20, 9), (20, 11), (20, 10)]
    assert "(20 + 2×1 − 3)/1 + 1 = 20" in panel.formula.text()
    assert "(20 + 2×3 − 7)/2 + 1 = 10.5 → 10 (floor)" in panel.formula.text()
    assert "its 5×5 weights resized to 3×7" in panel.kernel_caption.text()
    panel.kh.setValue(25)
    assert panel.model.output is None and "no output" in panel.problem.text() and panel.problem.isVisibleTo(panel)
    assert not panel.play_btn.isEnabled()
    panel.layer_values.click()                                 # back to the layer's 5×5, stride 2, padding 1
    assert (panel.kh.value(), panel.kw.value(), panel.sh.value(), panel.pw.value()) == (5, 5, 2, 1)
    assert panel.model.shape == (9, 9) and not panel.problem.isVisibleTo(panel)


def test_step_play_pause_reset_fill_the_map(panel, qtbot):
    _pick(panel.layer, panel.source.layers[1].title)           # the max pooling layer, 3×3 stride 2 pad 1
    _pick(panel.input, "Number grid")                          # 7×7: a 4×4 map
    panel.reset_btn.click()
    assert np.isnan(_shown(panel.output_view)).all() and panel.input_view.window[:2] == (0, 0)
    panel.step_btn.click()
    panel.step_btn.click()
    shown = _shown(panel.output_view)
    assert np.isfinite(shown).sum() == 2 and panel.input_view.window[:2] == (0, 2)
    assert "-∞" in panel.mac.toPlainText()                     # the window hangs over the padding
    panel.speed.setValue(30)
    panel.play_btn.click()
    assert panel.timer.isActive() and not panel.play_btn.isEnabled()
    qtbot.waitUntil(lambda: panel.model.finished, timeout=10000)
    assert not panel.timer.isActive() and panel.play_btn.isEnabled()
    np.testing.assert_array_equal(_shown(panel.output_view), _engine("max", panel.model.planes, 3, 2, 1))
    ho, wo = panel.model.shape
    assert (ho, wo) == (4, 4)
    assert panel.input_view.window[:2] == ((ho - 1) * 2, (wo - 1) * 2)
    panel.play_btn.click()                                     # from the start again
    qtbot.waitUntil(lambda: 0 < panel.model.filled < panel.model.total, timeout=5000)
    panel.pause_btn.click()
    filled = panel.model.filled
    QTest.qWait(200)
    assert panel.model.filled == filled and not panel.timer.isActive()


def test_average_pooling_layer_equals_the_engine(panel):
    _pick(panel.layer, panel.source.layers[3].title)           # AvgPool2d(3, 1, 1, count_include_pad=False)
    _pick(panel.input, "Probe image, channel 2")
    assert [panel.input.itemText(i) for i in range(panel.input.count())][-1] == "Probe image, channel 2"
    np.testing.assert_array_equal(_shown(panel.output_view),
                                  _engine("avg", panel.source.probe[2:3], 3, 1, 1, count_include_pad=False))
    panel.model.select(0, 0)
    assert panel.mac.toPlainText().endswith(f"/ 4 = {X.fmt(panel.model.output[0, 0])}")


def test_number_grid_and_own_kernel_can_be_edited(panel, qtbot):
    _pick(panel.layer, "Your kernel (convolution)")
    _pick(panel.input, "Number grid")
    panel.ph.setValue(1)
    assert panel.input_view.edit(0, 0, 3) is None              # padding is not an input number
    editor = panel.input_view.edit(0, 2, 3)                    # padded (2, 3) is the grid's (1, 2)
    editor.setText("42")
    QTest.keyClick(editor, QtCore.Qt.Key_Return)
    assert panel.model.planes[0, 1, 2] == 42
    editor = panel.kernel_view.edit(0, 1, 1)
    editor.setText("-3.5")
    QTest.keyClick(editor, QtCore.Qt.Key_Return)
    assert panel.model.kernel[0, 1, 1] == -3.5
    m = panel.model
    np.testing.assert_array_equal(_shown(panel.output_view),
                                  _engine("conv", m.planes, m.kernel_size, m.stride, m.padding, m.kernel))
    panel.rows.setValue(5)
    assert panel.model.planes.shape == (1, 5, 7)
    _pick(panel.layer, panel.source.layers[0].title)
    assert panel.kernel_view.edit(0, 0, 0) is None             # a layer's weights are not edited here


def test_explain_tab_in_the_studio_uses_the_model_and_the_probe(make_window, qtbot):
    win = make_window()
    panel = win.explain_panel
    assert win.tabs.tabText(win.tabs.indexOf(panel)) == "Explain"
    win.tabs.setCurrentWidget(panel)
    assert wait_until(qtbot, lambda: panel.source is not None, 60), panel.source_label.text()
    conv = panel.source.layers[0]
    assert panel.layer.currentText() == conv.title and conv.op == "conv"
    assert panel.input.currentText() == "Probe image" and panel.source.probe.shape == (1, 28, 28)
    assert "mnist_cnn, untrained" in panel.source_label.text()
    np.testing.assert_array_equal(
        _shown(panel.output_view),
        _engine("conv", panel.source.probe, conv.kernel_size, conv.stride, conv.padding, conv.weight[0, :1],
                conv.bias[0]))
