"""The local backend: a run that trains on this process's scheduler (playground/scheduler.py).

`Run` implements the run front (playground/front.py). It is a scheduler job: `work(budget)`
takes whole steps for about `budget` seconds; it never owns a thread. Its status, target and
pending Step clicks sit under a small lock (`_meta`) that a page's read takes briefly, so
reads never wait for a step; the trainer sits under `_lock`, held for a step, a weight copy
or a checkpoint.

The validation and sample cadence are callbacks the trainer fires after each step
(`Trainer.add_callback`): `evaluate_when_due`, `sample_when_due`; then the observer's.
"""
from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque
from dataclasses import replace

from .checkpoint import save_checkpoint
from .config import ModelConfig, TrainConfig, check_lr
from .front import (ACTIVE, HistoryCache, RunObserver, RunSettings, RunState, RunSummary, Sample, Snapshot,
                    Status, default_label)
from .generate import generate
from .limits import Limits
from .models import CharModel, count_parameters
from .scheduler import Scheduler
from .train import StepMetrics, Trainer, TrainingDiverged

log = logging.getLogger(__name__)


def evaluate_when_due(run: "Run", trainer: Trainer, m: StepMetrics) -> None:
    """Validation loss at step 1, every `eval_every` steps and at the target step."""
    if m.step % run.settings.eval_every == 0 or m.step == run.target_step or m.step == 1:
        trainer.evaluate()


def sample_when_due(run: "Run", trainer: Trainer, m: StepMetrics) -> None:
    """A sample every `sample_every` steps and at the target step."""
    if m.step % run.settings.sample_every == 0 or m.step == run.target_step:
        run.add_sample(make_sample(trainer, run.settings, m.step))


def make_sample(t: Trainer, s: RunSettings, step: int) -> Sample:
    """Greedy and sampled text from the run's prefix (the validation text's first token if empty)."""
    prefix = s.prefix or t.val_text(1)
    common = dict(model=t.model, vocab=t.vocab, prefix=prefix, length=s.sample_length)
    return Sample(step=step, prefix=prefix, temperature=s.temperature,
                  greedy=generate(**common, greedy=True),
                  sampled=generate(**common, temperature=s.temperature, seed=t.train_config.seed + step))


class RateMeter:
    """Steps per wall-clock minute over the last ~WINDOW s of turns (0 while unknown): short, so an
    ETA follows the share a run gets now (30 s lagged a room's changes by half a minute)."""
    WINDOW = 12.0

    def __init__(self):
        self._points: deque = deque(maxlen=64)   # (monotonic time, steps done) after each turn

    def add(self, steps: int) -> None:
        self._points.append((time.monotonic(), steps))

    def clear(self) -> None:
        self._points.clear()

    def per_minute(self) -> float:
        points = list(self._points)
        if len(points) < 2:
            return 0.0
        now = points[-1][0]
        old = next((p for p in points if now - p[0] <= self.WINDOW), points[0])
        old = points[-2] if old is points[-1] else old
        dt = now - old[0]
        return 60.0 * (points[-1][1] - old[1]) / dt if dt > 0 else 0.0


class Lifecycle:
    """A run's status machine: status, target step, pending Step clicks and Stop, under one small
    lock that a page's read takes only briefly. Status changes are told to the observer once the
    lock is released, in order."""

    def __init__(self, run_id: str, steps_done, state: RunState, observer: RunObserver | None):
        self.state, self.steps_done = state, steps_done       # steps_done(): the trainer's count
        self.lock = threading.Lock()
        self.idle = threading.Event()
        self.idle.set()
        self.pending_steps, self.stop_requested, self.cancelled = 0, False, False
        self.first = (0, 0.0)                                 # (steps, running seconds) at the last Start
        self._run_id, self._observer, self._told = run_id, observer, deque()

    def set(self, status: Status, message: str | None = None, **changes) -> None:
        """Under lock: change the state; a new status is told after the lock is released."""
        old = self.state.status
        self.state = replace(self.state, status=status, **changes,
                             message=self.state.message if message is None else message)
        if status != old:
            self._told.append((status, self.steps_done()))

    def tell(self) -> None:
        """Outside the lock: tell the observer; then, if no longer active, wake join()."""
        while self._told:
            status, step = self._told.popleft()
            if self._observer is not None:
                self._observer.on_status(self._run_id, status, step)
        if self.state.status not in ACTIVE:
            self.idle.set()

    def restore(self, status: Status, message: str, target_step: int, running_seconds: float) -> None:
        """A run rebuilt from the run store: its saved state, not told to the observer (a PAUSED
        run is active again: Resume goes on to target_step)."""
        with self.lock:
            self.state = replace(self.state, status=status, message=message, target_step=target_step,
                                 running_seconds=running_seconds)
            self.first = (self.steps_done(), running_seconds)
            if status in ACTIVE:
                self.idle.clear()

    def start(self, steps: int) -> bool:
        """Queue `steps` more steps; False if already active."""
        with self.lock:
            if self.state.status in ACTIVE or steps < 1:
                return False
            done = self.steps_done()
            self.set(Status.QUEUED, "", target_step=done + int(steps))
            self.stop_requested = self.cancelled = False
            self.pending_steps, self.first = 0, (done, self.state.running_seconds)
            self.idle.clear()
        self.tell()
        return True

    def pause(self) -> None:
        with self.lock:
            if self.state.status in (Status.QUEUED, Status.RUNNING):
                self.set(Status.PAUSED)
        self.tell()

    def resume(self) -> bool:
        with self.lock:
            if self.state.status != Status.PAUSED:
                return False
            self.set(Status.RUNNING if self.steps_done() > self.first[0] else Status.QUEUED)
        self.tell()
        return True

    def add_steps(self, n: int) -> None:
        """Step clicks on an active run: pause it, then exactly `n` more steps."""
        with self.lock:
            self.pending_steps += int(n)
            self.set(Status.PAUSED, target_step=max(self.state.target_step, self.steps_done() + self.pending_steps))
        self.tell()

    def stop(self, message: str) -> None:
        with self.lock:
            self.stop_requested = self.cancelled = True
            if self.state.status in ACTIVE:
                self.set(Status.STOPPED, message or "Stopped by you.")
        self.tell()

    def may_step(self, wall_used: float, limits: Limits, summary) -> bool:
        """May the run take a step now? Ends the run when it is done (summary() says how it went)."""
        with self.lock:
            go = self._may_step(wall_used, limits, summary)
        self.tell()
        return go

    def _may_step(self, wall_used: float, limits: Limits, summary) -> bool:
        if self.stop_requested:
            return False
        if self.steps_done() >= self.state.target_step:
            return self.end_locked(Status.FINISHED, summary())
        if wall_used > limits.max_wall_minutes * 60:
            return self.end_locked(Status.STOPPED, f"Stopped after the server's limit of "
                                                   f"{limits.max_wall_minutes:g} minutes of training per Start.")
        if self.state.status == Status.PAUSED and not self.pending_steps:
            return False
        if self.state.status == Status.QUEUED:
            self.set(Status.RUNNING)
        return True

    def stepped(self, seconds: float) -> None:
        with self.lock:
            self.state = replace(self.state, running_seconds=self.state.running_seconds + seconds)
            self.pending_steps = max(0, self.pending_steps - 1)

    def end(self, status: Status, message: str) -> bool:
        with self.lock:
            self.end_locked(status, message)
        self.tell()
        return False

    def end_locked(self, status: Status, message: str) -> bool:
        """Under lock: the run ends (unless a Stop came first); False."""
        if not self.stop_requested:
            self.set(status, message)
        return False


class Run:
    """One training run on this process's scheduler (the local backend's RunFront)."""
    run_id: str
    owner: str
    label: str
    corpus_key: str
    model_config: ModelConfig
    train_config: TrainConfig
    settings: RunSettings
    can_restart = False                        # a local run is never lost
    client = ""                                # who trains it (the registry sets it): the scheduler's fair share

    def __init__(self, trainer: Trainer, owner: str, scheduler: Scheduler, limits: Limits,
                 label: str = "", corpus_key: str = "", observer: RunObserver | None = None,
                 run_id: str | None = None):
        self.run_id, self.owner, self.corpus_key = run_id or secrets.token_urlsafe(16), owner, corpus_key
        self.label = label or default_label(trainer.model_config)
        self.model_config, self.train_config = trainer.model_config, trainer.train_config
        self.trainer, self.settings, self.observer = trainer, RunSettings(), observer
        self.samples: list[Sample] = []
        self.summary = RunSummary(self.model_config, self.train_config, count_parameters(trainer.model),
                                  len(trainer.vocab), trainer.uniform_perplexity, trainer.unigram_perplexity)
        self._scheduler, self._limits = scheduler, limits
        self._life = Lifecycle(self.run_id, lambda: trainer.steps_done, RunState(), observer)
        self._lock = threading.Lock()          # the trainer: held for a step, a copy, a checkpoint
        self._pending_lr: float | None = None  # set_lr not yet applied (a step was computing)
        self._wall_used = 0.0                  # training seconds since the last Start
        self._rate, self._history, self._read = RateMeter(), HistoryCache(), threading.Lock()
        trainer.add_callback("on_step_end", lambda t, m: evaluate_when_due(self, t, m))
        trainer.add_callback("on_step_end", lambda t, m: sample_when_due(self, t, m))
        if observer is not None:
            trainer.add_callback("on_step_end", lambda t, m: observer.on_history(self.run_id, t.rows(m.step - 1)))

    # ---- reading -------------------------------------------------------------------------
    status = property(lambda self: self._life.state.status)
    message = property(lambda self: self._life.state.message)
    target_step = property(lambda self: self._life.state.target_step)
    running_seconds = property(lambda self: self._life.state.running_seconds)
    is_active = property(lambda self: self._life.state.status in ACTIVE)
    cancelled = property(lambda self: self._life.cancelled, doc="Read by the scheduler.")
    steps_done = property(lambda self: self.trainer.steps_done)

    @property
    def lr(self) -> float:
        """The lr the next step uses (annealing may have divided it; a set_lr not yet applied wins)."""
        pending = self._pending_lr
        return self.trainer.lr if pending is None else pending

    @property
    def base_lr(self) -> float:
        """The lr asked for (config or set_lr), before annealing: what the sidebar's lr is compared with."""
        pending = self._pending_lr
        return self.trainer.base_lr if pending is None else pending

    def state(self) -> RunState:
        return replace(self._life.state, step=self.trainer.steps_done, lr=self.lr, base_lr=self.base_lr)

    def add_sample(self, sample: Sample) -> None:
        with self._life.lock:
            self.samples.append(sample)
        if self.observer is not None:
            self.observer.on_sample(self.run_id, sample)

    # ---- control ---------------------------------------------------------------------------
    def start(self, steps: int) -> None:
        if self._life.start(steps):
            self._wall_used = 0.0
            self._rate.clear()
            self._scheduler.submit(self)

    def pause(self) -> None:
        self._life.pause()

    def resume(self) -> None:
        if self._life.resume():
            self._scheduler.submit(self)

    def step(self, n: int = 1) -> None:
        if not self.is_active:
            return self.start(n)
        self._life.add_steps(n)
        self._scheduler.submit(self)

    def stop(self, message: str = "") -> None:
        """Stops at the end of the current step (the page shows "stopped" at once)."""
        self._life.stop(message)

    def join(self, timeout: float | None = None) -> bool:
        return self._life.idle.wait(timeout)

    def set_lr(self, lr: float) -> None:
        """Checked now; applied between steps, so the caller never waits for a step in flight."""
        self._pending_lr = check_lr(lr)
        if self._lock.acquire(blocking=False):      # idle between steps: apply at once
            try:
                self._apply_lr()
            finally:
                self._lock.release()

    def _apply_lr(self) -> None:
        """Under _lock: hand a pending lr to the trainer."""
        lr, self._pending_lr = self._pending_lr, None
        if lr is not None:
            self.trainer.set_lr(lr)

    def update_settings(self, **changes) -> None:
        """Change how samples are generated while training (prefix, sample_every, temperature)."""
        self.settings = replace(self.settings, **changes)

    def restart(self) -> None:
        raise ValueError("a run on this server is never lost: there is nothing to restart")

    # ---- the scheduler's side ---------------------------------------------------------------
    def work(self, budget_seconds: float) -> bool:
        """Train for about `budget_seconds` (whole steps); True if the run wants another turn."""
        end = time.perf_counter() + budget_seconds
        try:
            while self._one_step():
                if time.perf_counter() >= end:
                    return True
            return False
        finally:
            self._rate.add(self.trainer.steps_done)

    def _one_step(self) -> bool:
        """Decide, then take one step; False when this turn (or the run) is over."""
        if not self._life.may_step(self._wall_used, self._limits, self._summary):
            return False
        t0 = time.perf_counter()
        try:
            with self._lock:
                self._apply_lr()
                self.trainer.step()             # its callbacks evaluate, sample and tell the observer
        except TrainingDiverged as e:
            return self._life.end(Status.DIVERGED, str(e))
        except Exception as e:  # noqa: BLE001 - shown to the user instead of a dead run
            log.exception("run %s failed", self.run_id[:6])
            return self._life.end(Status.ERROR, f"Training failed: {type(e).__name__}: {e}")
        dt = time.perf_counter() - t0
        self._wall_used += dt
        self._life.stepped(dt)
        return True

    def _summary(self) -> str:
        steps, seconds_before = self.trainer.steps_done - self._life.first[0], self._life.first[1]
        tokens = steps * self.train_config.batch_size * self.train_config.seq_len
        seconds = max(self.running_seconds - seconds_before, 1e-9)
        return (f"Trained {steps:,} steps in {seconds:.1f} s of training time: {tokens / seconds:,.0f} "
                f"tokens/s overall (validation and samples included).")

    # ---- snapshots and weights ------------------------------------------------------------------
    def steps_per_minute(self) -> float:
        return self._rate.per_minute()

    def snapshot(self) -> Snapshot:
        """A copy for a page to draw, taken without waiting for the training step."""
        with self._life.lock:
            s, samples = self.state(), list(self.samples)
        with self._read:                        # only rows new since the last read are copied
            start = self._history.read_from(self.trainer.steps_done)
            self._history.merge(start, self.trainer.rows(start))
            history = self._history.frame()
        info = self.summary
        return Snapshot(run_id=self.run_id, label=self.label, status=s.status, message=s.message, step=s.step,
                        target_step=s.target_step, lr=s.lr, history=history, samples=samples,
                        parameters=info.parameters, vocab_size=info.vocab_size,
                        uniform_perplexity=info.uniform_perplexity, unigram_perplexity=info.unigram_perplexity,
                        running_seconds=s.running_seconds, model_config=self.model_config,
                        train_config=self.train_config, corpus_key=self.corpus_key,
                        steps_per_minute=self.steps_per_minute(), **self._scheduler.shares(self))

    def copy_model(self) -> tuple[CharModel, object, ModelConfig]:
        """A CPU copy of the current weights (taken between steps), in eval mode."""
        with self._lock:
            cfg, vocab = self.trainer.model_config, self.trainer.vocab
            weights = {k: v.detach().to("cpu", copy=True) for k, v in self.trainer.model.state_dict().items()}
        model = CharModel(cfg)
        model.load_state_dict(weights)
        return model.eval(), vocab, cfg

    def checkpoint(self, make=save_checkpoint) -> tuple:
        """(make(trainer), the step), between steps: checkpoint bytes, or resume.trainer_state."""
        with self._lock:
            return make(self.trainer), self.trainer.steps_done

    def checkpoint_bytes(self) -> bytes:
        """A checkpoint of the run (checkpoint.save_checkpoint), taken between steps."""
        return self.checkpoint()[0]

    def restore(self, status: Status, message="", target_step=0, running_seconds=0.0, samples=()) -> None:
        """A run rebuilt from the run store: its samples and status as saved (see Lifecycle.restore)."""
        self.samples = [s for s in samples if s.step <= self.trainer.steps_done]
        self._life.restore(status, message, max(target_step, self.trainer.steps_done), running_seconds)

    def val_text(self, n_chars: int = 300) -> str:
        return self.trainer.val_text(n_chars)

    def free(self) -> None:
        """Stop (the registry drops the run, and with it the trainer's memory)."""
        self.stop("Freed.")


class LocalBackend:
    """Runs train on this process's scheduler (the default: nothing to start)."""
    name = "local"

    def __init__(self, scheduler: Scheduler, limits: Limits):
        self.scheduler, self.limits = scheduler, limits

    def make_run(self, model_config: ModelConfig, train_config: TrainConfig, text: str, owner: str,
                 label: str = "", corpus_key: str = "", observer: RunObserver | None = None,
                 run_id: str | None = None, **trainer_kwargs) -> Run:
        return self.adopt(Trainer(model_config, train_config, text, **trainer_kwargs), owner, label, corpus_key,
                          observer, run_id)

    def adopt(self, trainer: Trainer, owner: str, label: str = "", corpus_key: str = "",
              observer: RunObserver | None = None, run_id: str | None = None) -> Run:
        """A run around a trainer built elsewhere (resume.restore_trainer: a run from the store)."""
        return Run(trainer, owner, self.scheduler, self.limits, label, corpus_key, observer, run_id)
