"""The one thread that runs the studio's engine work (no Qt): building data, models and
runs, training, feature-map snapshots, evaluation and prediction all happen on it, so
the GUI thread never waits for the engine and no two jobs touch a model at once.

Jobs queue up and run in order. While a run trains, the queued jobs that are not
``exclusive`` run between its batches (the run's session calls
``service_between_batches`` there), so a prediction or a data preview does not wait
for the run to end. Results go into an outbox of plain Python data that the GUI thread
drains (gui/worker.py).
"""
from __future__ import annotations

import collections
import itertools
import queue
import threading
import traceback
from dataclasses import dataclass, field

_ids = itertools.count(1)


@dataclass
class Job:
    """``fn(*args)``, then ``done(result)`` or ``error(exception, traceback text)`` where
    the outbox is drained; an ``exclusive`` job never runs between training batches."""

    fn: object
    args: tuple
    done: object
    error: object
    name: str
    exclusive: bool
    id: int = field(default_factory=lambda: next(_ids))


class JobFailed(Exception):
    """A job without an error callback failed: its name, message and traceback."""

    def __init__(self, name: str, exc: BaseException, tb: str):
        super().__init__(f"{name} failed: {exc}")
        self.tb = tb


class EngineThread:
    """The engine thread: a job queue, and an outbox of (callback, args) for the GUI.

    ``session``: the training session running on it, if any; ``models``: run id ->
    (model, data, trainer) of the runs whose models are in memory (engine objects: the
    engine thread alone touches them)."""

    def __init__(self):
        self._jobs: queue.Queue = queue.Queue()
        self._deferred: collections.deque = collections.deque()    # exclusive jobs that came while training
        self.outbox: collections.deque = collections.deque()
        self.session = None
        self.models: dict = {}
        self._thread = threading.Thread(target=self._loop, name="numbacnn-engine", daemon=True)
        self._thread.start()

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    def submit(self, fn, *args, done=None, error=None, name: str = "", exclusive: bool = False) -> int:
        """Queues ``fn(*args)``; returns the job's id."""
        job = Job(fn, args, done, error, name or getattr(fn, "__name__", "job"), exclusive)
        self._jobs.put(job)
        return job.id

    def post(self, callback, *args) -> None:
        """Queues ``callback(*args)`` for the GUI thread (thread-safe)."""
        self.outbox.append((callback, args))

    def drain(self) -> list:
        """The (callback, args) pairs posted so far, oldest first."""
        out = []
        while self.outbox:
            out.append(self.outbox.popleft())
        return out

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stops the session, lets the queued jobs finish and ends the thread."""
        if self.session is not None:
            self.session.stop()
        self._jobs.put(None)
        self._thread.join(timeout)

    # -- on the engine thread ---------------------------------------------------------
    def _loop(self):
        while True:
            job = self._jobs.get()
            if job is None:
                break
            self._run(job)

    def _run(self, job: Job):
        try:
            result = job.fn(*job.args)
        except BaseException as e:  # noqa: BLE001 - reported to the GUI, the thread lives on
            tb = traceback.format_exc()
            if job.error is not None:
                self.post(job.error, e, tb)
            else:
                self.post(reraise, JobFailed(job.name, e, tb))
        else:
            if job.done is not None:
                self.post(job.done, result)

    def service_between_batches(self) -> None:
        """Runs the queued jobs that are not exclusive (a training run calls this between
        its batches); exclusive ones wait for the run's end (:meth:`requeue_deferred`)."""
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return
            if job is None:               # shutting down: the loop ends once the run returns
                self._jobs.put(None)
                return
            if job.exclusive:
                self._deferred.append(job)
            else:
                self._run(job)

    def requeue_deferred(self) -> None:
        """Queues the exclusive jobs that came while a run trained, in order."""
        while self._deferred:
            self._jobs.put(self._deferred.popleft())


def reraise(exc: BaseException):
    """Posted to the GUI thread: raises ``exc`` there (the drain reports it)."""
    raise exc
