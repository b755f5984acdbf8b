"""The views' one door to the engine (Qt): a QObject on the GUI thread that queues jobs
on the engine thread (gui/engine_thread.py) and drains their results and the training
session's events (gui/session.py) into the AppState with a QTimer at ~10 Hz. The views
never touch the engine.
"""
from __future__ import annotations

import threading
import time
import traceback
from dataclasses import replace
from pathlib import Path

import numpy as np
from PySide6 import QtCore

from engine import bench, experiments
from engine.explain import conv_layers, explain
from engine.onnx import export as export_onnx
from engine.train import load_checkpoint, save_checkpoint, take_snapshot
from engine.train.jsonable import jsonable

from . import backend
from . import explainer as X
from . import qtcompat  # noqa: F401  (PySide6 6.12.0 signal refcount fix)
from .engine_thread import EngineThread, JobFailed
from .session import TrainingError, TrainingSession
from .state import AppState, DataSettings, HyperParams


class Worker(QtCore.QObject):
    """The views' one door to the engine. Methods are called on the GUI thread; they
    queue jobs on the engine thread, whose results come back through ``drain`` (a
    10 Hz QTimer) into the AppState or the given callbacks."""

    error = QtCore.Signal(str, str)          # message, details: the app shows a dialog
    info = QtCore.Signal(str)                # a line for the status bar

    def __init__(self, state: AppState, parent=None, interval_ms: int = 100):
        super().__init__(parent)
        self.state = state
        self.engine = EngineThread()
        self.session: TrainingSession | None = None
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.drain)
        self.timer.start()
        self.last_checkpoint: dict | None = None    # a loaded checkpoint's info (for resume)
        self._data_job = 0

    # -- outbox -----------------------------------------------------------------------
    def drain(self) -> None:
        # read before the outbox: a session that has ended posted all its events before it said so
        ended = self.session is not None and self.engine.session is None
        items = self.engine.drain()
        with self.state.batch():
            for cb, args in items:
                try:
                    cb(*args)
                except TrainingError as e:
                    self.error.emit(f"Training stopped with an error:\n\n{e.message}", e.tb)
                except JobFailed as e:
                    self.error.emit(str(e), e.tb)
                except Exception as e:  # noqa: BLE001 - a view's callback failed: a dialog, the app lives on
                    self.error.emit(str(e), traceback.format_exc())
        if ended:
            self.session = None
            self.engine.requeue_deferred()
            self.state.emit("status", training=False)

    def _fail(self, what: str):
        def report(exc, tb):
            self.state.set_busy("")
            msg = str(exc) or type(exc).__name__
            self.error.emit(f"{what}:\n\n{msg}", tb)
        return report

    # -- data -------------------------------------------------------------------------
    def load_data(self) -> None:
        """Reads the chosen dataset (engine thread) into state.dataset_info."""
        data = replace(self.state.data)
        self._data_job += 1
        job = self._data_job
        self.state.set_busy("loading data")

        def work():
            train = backend.open_dataset(data, train=True)
            try:
                test = backend.open_dataset(data, train=False)
            except backend.DataMissing:
                test = None
            info = backend.dataset_summary(train, test, data)
            info["augmented"] = backend.augmented_samples(data, info["samples"]) if data.augment else None
            return info

        def done(info):
            if job == self._data_job:
                self.state.set_busy("")
                self.state.set_dataset_info(info)

        def failed(exc, tb):
            if job != self._data_job:
                return
            self.state.set_busy("")
            if isinstance(exc, backend.DataMissing):
                self.state.set_dataset_info({"error": str(exc), "can_download": exc.can_download, "name": data.name,
                                             "root": backend.data_root(data)})
            else:
                self.state.set_dataset_info({"error": f"{type(exc).__name__}: {exc}", "can_download": False,
                                             "name": data.name, "root": backend.data_root(data)})

        self.engine.submit(work, done=done, error=failed, name="load data")

    def augment_preview(self, seed: int = 0) -> None:
        """New augmented versions of the sample images (state.dataset_info["augmented"])."""
        info = self.state.dataset_info
        if not info or "samples" not in info:
            return
        data = replace(self.state.data)
        samples = info["samples"]

        def done(aug):
            if self.state.dataset_info is info:
                info["augmented"] = aug
                self.state.set_dataset_info(info)

        self.engine.submit(lambda: backend.augmented_samples(data, samples, seed) if data.augment else None,
                           done=done, error=self._fail("Augmentation preview failed"), name="augment")

    def download_data(self) -> None:
        data = replace(self.state.data)
        self.state.set_busy(f"downloading {data.name}")

        def done(root):
            self.state.set_busy("")
            self.info.emit(f"{data.name} downloaded to {root}")
            self.load_data()

        def failed(exc, tb):
            self.state.set_busy("")
            self.state.set_dataset_info({"error": f"Download failed: {exc}", "can_download": True,
                                         "name": data.name, "root": backend.data_root(data)})
            self.error.emit(f"Could not download {data.name}:\n\n{exc}", tb)

        self.engine.submit(backend.download, data, done=done, error=failed, name="download", exclusive=True)

    # -- training ---------------------------------------------------------------------
    def start_training(self, resume_from: str | None = None, max_steps: int = 0, epochs: int | None = None):
        """Starts a new run from the state's settings (or resumes a checkpoint)."""
        if self.session is not None:
            raise RuntimeError("a run is already training")
        st = self.state
        runs_dir = st.runs_dir()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        name = st.model.zoo_name if st.model.source == "zoo" else "custom"
        directory = runs_dir / f"{stamp}-{name}-{st.data.name.lower()}"
        n = 1
        while directory.exists():
            n += 1
            directory = runs_dir / f"{stamp}-{name}-{st.data.name.lower()}-{n}"
        run = st.new_run(directory=str(directory))
        if resume_from:
            run.name += " (resumed)"
        session = TrainingSession(self.engine, run.id, st.data, st.model, st.hyper, directory, epochs=epochs,
                                  resume_from=resume_from, on_events=self.state.apply_events, max_steps=max_steps)
        session.want_snapshots = bool(st.ui.get("snapshots", True)) and self.snapshots_watched
        session.probe_index = int(st.ui.get("probe_index", 0))
        self.session = session
        self.engine.session = session
        self.engine.submit(session.run, name="training", exclusive=True)
        return run

    def pause(self):
        if self.session is not None:
            self.session.pause()

    def resume(self):
        if self.session is not None:
            self.session.resume()

    def stop(self):
        if self.session is not None:
            self.state.set_run_status(self.session.run_id, "stopping")
            self.session.stop()

    @property
    def training(self) -> bool:
        return self.session is not None

    @property
    def stopping(self) -> bool:
        """Whether the run in progress was asked to stop (it ends within a step)."""
        return self.session is not None and self.session.stopping

    def set_snapshots(self, on: bool, hz: float | None = None):
        """The user's choice: feature maps refresh while training (at ``hz``)."""
        self.state.set_ui(snapshots=bool(on))
        if self.session is not None:
            self.session.want_snapshots = bool(on) and self.snapshots_watched
            if hz:
                self.session.snapshot_interval = 1.0 / hz

    snapshots_watched = False      # whether a view shows them (no snapshots for a hidden tab)

    def watch_snapshots(self, watched: bool):
        self.snapshots_watched = bool(watched)
        if self.session is not None:
            self.session.want_snapshots = bool(self.state.ui.get("snapshots", True)) and self.snapshots_watched

    def set_probe(self, index: int):
        self.state.set_ui(probe_index=int(index))
        if self.session is not None:
            self.session.set_probe(index)
        else:
            self.snapshot()

    def snapshot(self, run_id: int | None = None):
        """Feature maps of the run's model for the probe image, outside training."""
        run = self.state.run(run_id)
        if run is None:
            return
        rid = run.id
        index = int(self.state.ui.get("probe_index", 0))

        def work():
            held = self.engine.models.get(rid)
            if held is None:
                return None
            model, bundle = held[0], held[1]
            if not isinstance(bundle, backend.DataBundle):    # a checkpoint without its data
                return None
            _, probe, _ = bundle.probe(index)
            return take_snapshot(model, probe, step=run.step)

        def done(snap):
            if snap is not None:
                self.state.apply_events(rid, [snap])

        self.engine.submit(work, done=done, error=self._fail("Feature maps failed"), name="snapshot")

    # -- evaluate / predict -------------------------------------------------------------
    def evaluate(self, run_id: int | None = None, which: str = "test"):
        run = self.state.run(run_id)
        if run is None:
            self.error.emit("Train a model or load a checkpoint first.", "")
            return
        rid = run.id
        self.state.set_busy("evaluating")

        def work():
            held = self.engine.models.get(rid)
            if held is None:
                raise RuntimeError("this run's model is not in memory; load its checkpoint")
            model, bundle = held[0], held[1]
            return backend.evaluate(model, bundle, which)

        def done(result):
            self.state.set_busy("")
            self.state.set_evaluation(rid, result)

        self.engine.submit(work, done=done, error=self._fail("Evaluation failed"), name="evaluate", exclusive=True)

    def predict(self, path: str, run_id: int | None = None, layer: str | None = None, target: int | None = None,
                image=None, caption: str = ""):
        """The run's softmax for the image at ``path`` (or ``image``, uint8 (H, W, C) of the
        run's input shape, named by ``caption``) and, unless the run is training, its
        explanation (engine.explain): every layer's feature maps, every convolution's
        filters, the Grad-CAM of class ``target`` (default the predicted one) at ``layer``
        (a module name, default the last Conv2d) and the model's conv layers."""
        run = self.state.run(run_id)
        if run is None:
            self.error.emit("Train a model or load a checkpoint first, then predict.", "")
            return
        rid = run.id
        training = self.session is not None and self.session.run_id == rid

        def work():
            held = self.engine.models.get(rid)
            if held is None:
                raise RuntimeError("this run's model is not in memory; load its checkpoint")
            model, bundle = held[0], held[1]
            img = backend.load_image(path, bundle.shape) if image is None else image
            out = backend.predict(model, bundle, img)
            out.update(path=str(path), caption=caption or str(path), run=rid)
            out["explain_note"] = "the layers and Grad-CAM are drawn when the run is not training" if training else ""
            if not training:         # explain() switches the model to eval mode while it runs
                try:
                    out["explanation"] = explain(model, bundle.to_tensor(img[None])[0], layer=layer, target=target,
                                                 class_names=bundle.classes or None)
                    out["layers"] = conv_layers(model)
                except ValueError as e:      # a model without convolutions, or other class names
                    out["explain_note"] = f"no Grad-CAM: {e}"
            return out

        self.engine.submit(work, done=self.state.set_prediction, error=self._fail(f"Could not predict {path}"),
                           name="predict")

    def misclassified(self, indices, which: str, done, run_id: int | None = None):
        """``done(images)``: uint8 (n, H, W, C), the images at ``indices`` of the split the
        run's evaluation on ``which`` used (a page of the misclassified gallery)."""
        run = self.state.run(run_id)
        if run is None:
            return
        rid = run.id

        def work():
            held = self.engine.models.get(rid)
            if held is None or not isinstance(held[1], backend.DataBundle):
                raise RuntimeError("this run's model and data are not in memory; load its checkpoint")
            return backend.split_images(held[1], which, indices)

        self.engine.submit(work, done=done, error=self._fail("Could not read the misclassified images"),
                           name="gallery")

    def has_model(self, run_id: int | None = None) -> bool:
        """Whether the run's model is in memory (trained or loaded in this session)."""
        run = self.state.run(run_id)
        return run is not None and run.id in self.engine.models

    # -- checkpoints --------------------------------------------------------------------
    def save_checkpoint(self, path: str, run_id: int | None = None, done=None):
        """Writes the run's checkpoint (resumable when the run trained in this session)."""
        run = self.state.run(run_id)
        if run is None:
            self.error.emit("There is no model to save yet.", "")
            return
        rid = run.id
        cfg = run.config
        history = list(run.epochs)

        def work():
            held = self.engine.models.get(rid)
            if held is None:
                raise RuntimeError("this run's model is not in memory")
            model, bundle, trainer = held
            if trainer is not None:
                return trainer.save_checkpoint(str(path))
            meta = {"history": history, "metadata": {"studio": jsonable(cfg),
                                                     "class_names": bundle.classes if bundle else []}}
            if bundle is not None:
                meta["input_shape"] = list(bundle.shape)
            return save_checkpoint(str(path), model, meta)

        def ok(p):
            self.state.remember("checkpoint", p)
            run.checkpoints.append(str(p))
            self.info.emit(f"checkpoint saved: {p}")
            if done:
                done(p)

        self.engine.submit(work, done=ok, error=self._fail("Could not save the checkpoint"), name="save")

    def load_checkpoint(self, path: str, done=None):
        """Loads a checkpoint as a run (model in memory, history on the curves), ready to
        evaluate, predict or resume (Train tab: Resume)."""
        data = replace(self.state.data)
        hyper = replace(self.state.hyper)

        def work():
            ck = load_checkpoint(str(path))
            model = ck.build_model()
            studio = ck.metadata.get("studio") or {}
            d, h = _studio_settings(studio, data, hyper)
            bundle = backend.bundle_of_checkpoint(ck, d, h)
            return model, bundle, ck, studio, backend.summary_text(model, bundle)

        def ok(result):
            model, bundle, ck, studio, layers = result
            p = Path(path)
            run = self.state.add_run_from_history(f"{p.parent.name}/{p.name}", studio, ck.history,
                                                  directory=str(p.parent))
            run.summary = layers              # the Inside tab names the layers by it
            run.checkpoints.append(str(ck.path))
            self.state.current_run = run.id
            self.engine.models[run.id] = (model, bundle, None)
            self.last_checkpoint = {"path": str(ck.path), "run": run.id, "studio": studio}
            self.state.remember("checkpoint", str(path))
            self.state.emit("runs", loaded=run.id)
            self.info.emit(f"loaded {ck.path}: {len(ck.history)} epochs of history")
            if done:
                done(run)

        self.engine.submit(work, done=ok, error=self._fail(f"Could not load {path}"), name="load", exclusive=True)

    def resume_settings(self, path: str) -> None:
        """Before resuming: the data/model/hyperparameters a checkpoint was trained with
        (its epochs stay the Train tab's, so a run can be extended)."""
        info = self.last_checkpoint or {}
        studio = info.get("studio") or {}
        epochs = self.state.hyper.epochs
        with self.state.batch():
            for key, setter in (("data", self.state.set_data), ("model", self.state.set_model),
                                ("hyper", self.state.set_hyper)):
                values = studio.get(key) or {}
                try:
                    setter(**values)
                except (KeyError, TypeError, ValueError):
                    pass
            self.state.set_hyper(epochs=epochs)

    # -- benchmark ----------------------------------------------------------------------
    def run_benchmark(self, quick: bool = False, progress=None):
        """engine.bench on the engine thread, one kernel op at a time (every op, on the CPU
        and, when usable, CUDA), into state.benchmark when it ends. ``progress(done, total,
        op, partial)`` is called on the GUI thread before each op (``partial``: the result
        of the ops done so far, None before the first) and once more with op "" when the
        run has ended. cancel_benchmark() ends it after the op in progress, keeping the
        ops done."""
        report = progress or (lambda done, total, op, partial: None)
        cancel = self._bench_cancel = threading.Event()
        total = len(bench.OPS)
        measured = {"ops": 0, "result": None}
        self.state.set_busy("benchmarking")

        def work():
            for op in bench.OPS:
                if cancel.is_set():
                    break
                self.engine.post(report, measured["ops"], total, op, measured["result"])
                part = bench.run(ops=[op], repeats=3, size="tiny" if quick else None)
                if measured["result"] is not None:       # a new dict: the GUI thread may hold the last one
                    part["kernels"] = measured["result"]["kernels"] + part["kernels"]
                    part["speedups"] = bench.speedups(part["kernels"], part["models"])
                measured.update(ops=measured["ops"] + 1, result=part)
            return measured["result"]

        def done(result):
            self.state.set_busy("")
            if result is not None:
                self.state.set_benchmark(result)
            report(measured["ops"], total, "", result)

        def failed(exc, tb):
            self._fail("Benchmark failed")(exc, tb)
            report(measured["ops"], total, "", measured["result"])

        self.engine.submit(work, done=done, error=failed, name="benchmark", exclusive=True)

    def cancel_benchmark(self) -> None:
        """Ends a running benchmark after the kernel op it is timing."""
        self._bench_cancel.set()

    _bench_cancel = threading.Event()

    # -- the Explain tab, experiments, export ----------------------------------------------
    def explainer_source(self, run_id: int | None, run_name: str, probe_index: int, done, error) -> None:
        """The Explain tab's layers and probe image (:func:`gui.explainer.load_source`): of
        run ``run_id``'s model in memory, else of the model the settings describe; then
        ``done(source)`` or ``error(exception, traceback)`` on the GUI thread."""
        st = self.state
        self.engine.submit(X.load_source, self.engine.models, run_id, run_name, replace(st.model), replace(st.data),
                           replace(st.hyper), int(probe_index), done=done, error=error, name="explainer layers")

    def run_experiment(self, name: str, budget: str, root: str | None, stop, on_event, done, error) -> None:
        """:func:`engine.experiments.measure` of experiment ``name`` at ``budget`` on the
        data under ``root``, after any run (exclusive); ``stop`` (a threading.Event) ends it
        between batches. ``on_event(event)`` gets its Stage and Point events, ``done(result)``
        or ``error(exception, traceback)`` its end, all on the GUI thread."""
        self.engine.submit(experiments.measure, name, budget, lambda event: self.engine.post(on_event, event), root,
                           stop, done=done, error=error, name=f"experiment {name}", exclusive=True)

    def export_model(self, path: str, fmt: str, run_id: int, done, error) -> None:
        """Writes run ``run_id``'s model to ``path`` atomically: ``fmt`` "onnx" (eval form,
        inputs of the run's image shape, any batch size) or "safetensors" (torch's
        state_dict keys); then ``done(path)`` or ``error(exception, traceback)``."""
        def work():
            held = self.engine.models.get(run_id)
            if held is None:
                raise RuntimeError("this run's model is not in memory; load its checkpoint")
            model, inputs = held[0], held[1]
            if fmt == "safetensors":
                return model.save_safetensors(path)
            if inputs is None:
                raise ValueError("this run does not record its input shape, which an ONNX file fixes; export "
                                 "safetensors instead")
            return export_onnx(model, np.zeros((1, *inputs.shape), np.float32), path)

        self.engine.submit(work, done=done, error=error, name="export")

    def shutdown(self, timeout: float = 5.0):
        """Stops the run and lets the engine thread finish its jobs (``timeout`` seconds at
        most); what they post is not taken in (the views are closing)."""
        self.timer.stop()
        self.engine.shutdown(timeout)
        if self.engine.session is None:
            self.session = None



def _studio_settings(studio: dict, data: DataSettings, hyper: HyperParams) -> tuple:
    """The data and hyperparameter settings a studio checkpoint records (``data`` and
    ``hyper`` for what it does not, or records in a form this studio does not know)."""
    out = []
    for key, cls, default in (("data", DataSettings, data), ("hyper", HyperParams, hyper)):
        try:
            out.append(cls(**studio[key]) if studio.get(key) else default)
        except TypeError:
            out.append(default)
    return tuple(out)
