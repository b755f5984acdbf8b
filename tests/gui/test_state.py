"""The Qt-free app state: observers, settings persistence, run histories."""
import json
import subprocess
import sys

import numpy as np
import pytest

from engine.train.events import BatchEnd, Done, EpochEnd, Snapshot, TrainStart
from gui import state as S


def test_state_imports_no_qt():
    code = ("import sys, gui.state, gui.modelspec, gui.backend; "
            "print(any(m.startswith(('PySide6', 'pyqtgraph')) for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_observers_hear_their_topic_and_batches_merge():
    st = S.AppState()
    heard, everything = [], []
    st.subscribe(lambda **kw: heard.append(kw), S.HYPER)
    st.subscribe(lambda topic, **kw: everything.append(topic))
    st.set_hyper(lr=0.1)
    st.set_hyper(lr=0.1)                 # no change, no notification
    st.set_data(name="CIFAR10")
    assert heard == [{"changed": {"lr": 0.1}}]
    assert everything == [S.HYPER, S.DATA]
    with st.batch():
        st.set_hyper(batch_size=16)
        st.set_hyper(epochs=3)
    assert heard[-1] == {"changed": {"batch_size": 16, "epochs": 3}}
    with pytest.raises(KeyError):
        st.set_hyper(no_such_setting=1)


def test_settings_round_trip(tmp_path):
    path = tmp_path / "studio.json"
    st = S.AppState(path)
    st.set_data(name="FashionMNIST", root="/data", augment=True, val_fraction=0.2)
    spec = {"type": "Sequential",
            "layers": [{"type": "Flatten"}, {"type": "Linear", "in_features": 784, "out_features": 10}]}
    st.set_model(source="custom", spec=spec)
    st.set_hyper(optimizer="AdamW", lr=0.003, schedule="OneCycleLR", seed=7)
    st.set_ui(tab=2, smoothing=80)
    st.save()
    again = S.AppState(path)
    assert again.load()
    assert again.data.name == "FashionMNIST" and again.data.augment and again.data.val_fraction == 0.2
    assert again.model.source == "custom" and again.model.spec == spec
    assert again.hyper.optimizer == "AdamW" and again.hyper.lr == 0.003 and again.hyper.seed == 7
    assert again.ui["tab"] == 2
    # a broken or foreign file is ignored, not fatal
    path.write_text("{not json")
    assert not S.AppState(path).load()
    path.write_text(json.dumps({"hyper": {"lr": "fast", "optimizer": "Nope"}, "data": {"bogus": 1}}))
    third = S.AppState(path)
    third.load()
    assert third.hyper.optimizer == "SGD"


def test_config_path_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("NUMBACNN_CONFIG", str(tmp_path / "cfg"))
    assert S.config_path() == tmp_path / "cfg" / "studio.json"
    monkeypatch.setenv("NUMBACNN_CONFIG", str(tmp_path / "x.json"))
    assert S.config_path() == tmp_path / "x.json"


def test_events_fold_into_a_run(tmp_path):
    st = S.AppState()
    run = st.new_run()
    assert run.active and not st.can_train
    events = [TrainStart(epochs=2, start_epoch=0, steps_per_epoch=3, batch_size=4, model_summary="")]
    for i in range(1, 4):
        events.append(BatchEnd(epoch=0, step=i, loss=2.0 / i, accuracy=0.1 * i, lr=0.1, images_per_sec=100.0,
                               progress=i / 6, eta_seconds=1.0))
    events.append(EpochEnd(epoch=0, step=3, train_loss=1.0, train_accuracy=0.2, val_loss=0.9, val_accuracy=0.3,
                           lr=0.1, seconds=1.0, metrics={"val_top5": 0.9, "val_confusion": np.eye(2)}))
    events.append(Snapshot(step=3, probe=np.zeros((1, 4, 4), np.float32), feature_maps={}, filters=None, stats={}))
    events.append(Done(reason="stopped", step=3, epoch=1, message="stopped"))
    topics = []
    st.subscribe(lambda topic, **kw: topics.append(topic))
    st.apply_events(run.id, events)
    assert sorted(set(topics)) == [S.RUN, S.SNAPSHOT, S.STATUS]
    assert topics.count(S.RUN) == 1                       # one notification per topic per batch of events
    b = run.batch_arrays()
    assert list(b["step"]) == [1, 2, 3] and b["loss"][2] == pytest.approx(2 / 3)
    assert run.epochs[0]["val_accuracy"] == 0.3 and run.epochs[0]["val_top5"] == 0.9
    assert "val_confusion" not in run.epochs[0]            # arrays stay out of the history rows
    assert run.status == "stopped" and not run.active and run.snapshot is not None
    csv_path = tmp_path / "m.csv"
    run.write_csv(csv_path)
    lines = csv_path.read_text().splitlines()
    assert lines[0].startswith("kind,step,epoch,loss") and len(lines) == 1 + 3 + 1


def test_series_grows():
    s = S.Series(capacity=2)
    for i in range(100):
        s.append(i)
    assert len(s) == 100 and s.view()[-1] == 99
