"""Training runs behind one narrow front, shared fairly, owned by a link.

    REGISTRY.create(model_config, train_config, text, owner, corpus_key=...) -> Run
    run.start(steps) / pause() / resume() / step(n) / stop() / set_lr(lr) / update_settings(...)
    run.snapshot() -> Snapshot          # a consistent copy for a page to draw; never waits for a step
    run.copy_model() -> (model, vocab, model_config)   # CPU copy between steps
    run.checkpoint_bytes() / run.val_text(n)

Pages talk to a run only through these methods and the Snapshot (the Ray backend serves the
same front from another process). A run never owns a thread: `start` hands it to the
scheduler, which trains every active run in turns (playground/scheduler.py).

Ownership: `owner` is a workspace token that the page URL carries (`?w=...`): a reload, a
second tab or another device with the same link sees and controls the same runs. When the
last browser session viewing a workspace closes, its runs keep going for a grace period,
then they are stopped and freed.
"""
from __future__ import annotations

import ctypes
import logging
import os
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace

import pandas as pd

from .config import ModelConfig, TrainConfig, check_lr
from .generate import generate
from .limits import LIMITS, Limits
from .models import CharModel, count_parameters
from .scheduler import SCHEDULER, Scheduler
from .train import StepMetrics, Trainer, TrainingDiverged, history_frame

ACTIVE = ("queued", "running", "paused")
log = logging.getLogger(__name__)


@dataclass
class RunSettings:
    eval_every: int = 50        # steps between validation-loss measurements
    sample_every: int = 100     # steps between generated samples
    prefix: str = ""            # generation prefix ("" -> first characters of the validation text)
    sample_length: int = 160    # tokens generated per sample
    temperature: float = 0.8    # for the sampled (non-greedy) continuation


@dataclass(frozen=True)
class Sample:
    """Text the run generated while training, from `prefix` after `step` steps."""
    step: int
    prefix: str
    greedy: str                 # always the most likely next token
    sampled: str                # drawn at `temperature`
    temperature: float


@dataclass
class Snapshot:
    run_id: str
    label: str
    status: str                 # ready | queued | running | paused | finished | stopped | diverged | error | lost
    message: str
    step: int
    target_step: int
    lr: float
    history: pd.DataFrame       # Trainer.history
    samples: list[Sample]       # generated every `sample_every` steps
    parameters: int
    vocab_size: int
    uniform_perplexity: float
    unigram_perplexity: float
    running_seconds: float      # time spent training this run (its turns only)
    model_config: ModelConfig = None
    train_config: TrainConfig = None
    corpus_key: str = ""
    steps_per_minute: float = 0.0   # wall-clock rate over the last ~30 s (turns shared with others)
    share: float = 1.0              # fraction of one core this run gets now
    active_runs: int = 0            # runs training on this server now
    workers: int = 1                # trainer threads serving them (Ray: the cluster's CPUs)
    backend: str = "local"          # where the run trains: "local" | "ray"

    @property
    def tokens_per_s(self) -> float:
        """Training throughput over the last 20 steps (step time only)."""
        tail = self.history.tail(20)
        s = tail["seconds"].sum() if len(tail) else 0.0
        return float(tail["tokens"].sum() / s) if s else 0.0

    @property
    def clipped_share(self) -> float:
        return float(self.history["clipped"].mean()) if len(self.history) else 0.0

    @property
    def eta_seconds(self) -> float | None:
        """Wall seconds to the target at the recent rate (None while unknown)."""
        left = self.target_step - self.step
        return 60.0 * left / self.steps_per_minute if self.steps_per_minute > 0 and left > 0 else None


class Run:
    """One training run on this process's scheduler (the local backend)."""

    def __init__(self, trainer: Trainer, owner: str, scheduler: Scheduler, limits: Limits,
                 label: str = "", corpus_key: str = ""):
        self.run_id = secrets.token_urlsafe(16)
        self.owner, self.corpus_key = owner, corpus_key
        self.label = label or f"{trainer.model_config.cell} h{trainer.model_config.hidden_size}"
        self.model_config, self.train_config = trainer.model_config, trainer.train_config
        self.trainer = trainer                 # the local backend's; pages never read it
        self.settings = RunSettings()
        self.status, self.message = "ready", ""
        self.target_step = 0
        self.samples: list[Sample] = []
        self.created = time.time()
        self.running_seconds = 0.0
        self.cancelled = False                 # read by the scheduler
        self._scheduler, self._limits = scheduler, limits
        self._parameters = count_parameters(trainer.model)
        self._lock = threading.Lock()          # the trainer: held for a step, a copy, a checkpoint
        self._meta = threading.Lock()          # status, target and pending steps: held briefly
        self._idle = threading.Event()
        self._idle.set()
        self._pending_steps = 0                # Step clicks not yet carried out
        self._pending_lr: float | None = None  # set_lr while a step was computing
        self._stop_requested = False
        self._wall_used = 0.0                  # training seconds since the last Start
        self._first_step = self._seconds_before = 0
        self._rate: deque = deque(maxlen=64)   # (monotonic time, steps done) after each turn
        self._rows: list[dict] = []            # history rows cached for snapshots
        self._read = threading.Lock()          # page threads reading the cached rows and frame
        self._frame, self._frame_key = history_frame([]), (0, None)

    # ---- control ------------------------------------------------------------------------
    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE

    @property
    def steps_done(self) -> int:
        return self.trainer.steps_done

    @property
    def lr(self) -> float:
        """The lr the next step uses (annealing may have divided it)."""
        pending = self._pending_lr
        return self.trainer.lr if pending is None else pending

    @property
    def base_lr(self) -> float:
        """The lr asked for (config or set_lr), before annealing: what the sidebar's lr is compared with."""
        pending = self._pending_lr
        return self.trainer.base_lr if pending is None else pending

    def start(self, steps: int) -> None:
        """Train `steps` more steps in turns with the other runs (no-op if already active)."""
        with self._meta:
            if self.is_active or steps < 1:
                return
            self.target_step = self.trainer.steps_done + int(steps)
            self.status, self.message = "queued", ""
            self._stop_requested = self.cancelled = False
            self._wall_used, self._pending_steps = 0.0, 0
            self._first_step, self._seconds_before = self.trainer.steps_done, self.running_seconds
            self._rate.clear()
            self._idle.clear()
        self._scheduler.submit(self)

    def pause(self) -> None:
        with self._meta:
            if self.status in ("queued", "running"):
                self.status = "paused"

    def resume(self) -> None:
        with self._meta:
            if self.status != "paused":
                return
            self.status = "running" if self.trainer.steps_done > self._first_step else "queued"
        self._scheduler.submit(self)

    def step(self, n: int = 1) -> None:
        """Exactly `n` more optimisation steps: pauses a running run first; an idle run trains
        `n` steps and finishes. Clicks add up (20 quick clicks = 20 steps)."""
        if not self.is_active:
            self.start(n)
            return
        with self._meta:
            self.status = "paused"
            self._pending_steps += int(n)
            self.target_step = max(self.target_step, self.trainer.steps_done + self._pending_steps)
        self._scheduler.submit(self)

    step_once = step

    def stop(self, message: str = "") -> None:
        """Stops at the end of the current step (the page shows "stopped" at once)."""
        with self._meta:
            self._stop_requested = self.cancelled = True
            if self.is_active:
                self.status, self.message = "stopped", message or "Stopped by you."
                self._idle.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the run is no longer active; False on timeout."""
        return self._idle.wait(timeout)

    def set_lr(self, lr: float) -> None:
        """The next step uses `lr` (checked now; applied between steps, so the page never waits
        for a step in flight)."""
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

    # ---- the scheduler's side -----------------------------------------------------------
    def work(self, budget_seconds: float) -> bool:
        """Train for about `budget_seconds` (whole steps); True if the run wants another turn."""
        end = time.perf_counter() + budget_seconds
        try:
            while self._one_step():
                if time.perf_counter() >= end:
                    return True
            return False
        finally:
            self._rate.append((time.monotonic(), self.trainer.steps_done))

    def _one_step(self) -> bool:
        """Decide, then take one step; False when this turn (or the run) is over."""
        with self._meta:
            if not self._may_step():
                return False
            if self.status == "queued":
                self.status = "running"
        t0 = time.perf_counter()
        try:
            with self._lock:
                self._apply_lr()
                m = self.trainer.step()
                self._after_step(m)
        except TrainingDiverged as e:
            return self._end("diverged", str(e))
        except Exception as e:  # noqa: BLE001 - shown to the user instead of a dead run
            log.exception("run %s failed", self.run_id[:6])
            return self._end("error", f"Training failed: {type(e).__name__}: {e}")
        dt = time.perf_counter() - t0
        with self._meta:
            self.running_seconds += dt
            self._wall_used += dt
            if self._pending_steps:
                self._pending_steps -= 1
        return True

    def _may_step(self) -> bool:
        """Under _meta: may the run take a step now? Ends the run when it is done."""
        if self._stop_requested:
            self._idle.set()
            return False
        if self.trainer.steps_done >= self.target_step:
            self._end_locked("finished", self._summary())
            return False
        if self._wall_used > self._limits.max_wall_minutes * 60:
            self._end_locked("stopped", f"Stopped after the server's limit of "
                                        f"{self._limits.max_wall_minutes:g} minutes of training per Start.")
            return False
        return self.status != "paused" or self._pending_steps > 0

    def _end(self, status: str, message: str) -> bool:
        with self._meta:
            self._end_locked(status, message)
        return False

    def _end_locked(self, status: str, message: str) -> None:
        if not self._stop_requested:
            self.status, self.message = status, message
        self._idle.set()

    def _summary(self) -> str:
        steps = self.trainer.steps_done - self._first_step
        tokens = steps * self.train_config.batch_size * self.train_config.seq_len
        seconds = max(self.running_seconds - self._seconds_before, 1e-9)
        return (f"Trained {steps:,} steps in {seconds:.1f} s of training time: {tokens / seconds:,.0f} "
                f"tokens/s overall (validation and samples included).")

    def _after_step(self, m: StepMetrics) -> None:
        s = self.settings
        last = m.step == self.target_step
        if m.step % s.eval_every == 0 or last or m.step == 1:
            self.trainer.evaluate()
        if m.step % s.sample_every == 0 or last:
            self.samples.append(self._sample(m.step))

    def _sample(self, step: int) -> Sample:
        s, t = self.settings, self.trainer
        prefix = s.prefix or t.val_text(1)
        common = dict(model=t.model, vocab=t.vocab, prefix=prefix, length=s.sample_length)
        return Sample(step=step, prefix=prefix, temperature=s.temperature,
                      greedy=generate(**common, greedy=True),
                      sampled=generate(**common, temperature=s.temperature, seed=t.train_config.seed + step))

    # ---- reading --------------------------------------------------------------------------
    def steps_per_minute(self) -> float:
        """Steps per wall-clock minute over the last ~30 s of turns (0 while unknown)."""
        points = list(self._rate)
        if len(points) < 2:
            return 0.0
        now = points[-1][0]
        old = next((p for p in points if now - p[0] <= 30.0), points[0])
        if old is points[-1]:
            old = points[-2]
        dt = now - old[0]
        return 60.0 * (points[-1][1] - old[1]) / dt if dt > 0 else 0.0

    def history_rows(self) -> list[dict]:
        """All history rows; only rows new since the last call are copied (the last cached row
        is re-read: validation loss is written onto it after the step)."""
        with self._read:
            return self._history_rows()

    def _history_rows(self) -> list[dict]:
        rows = self.trainer._rows                                    # appended by the worker only
        n = len(self._rows)
        if len(rows) < n:                                            # a divergence rolled back
            self._rows = []
            n = 0
        start = max(0, n - 1)
        self._rows[start:] = [dict(r) for r in rows[start:]]
        return list(self._rows)

    def history(self) -> pd.DataFrame:
        """Trainer.history as of now; rebuilt only when a row was added or changed (a live page
        asks every second, often between two steps of a run that is waiting for its turn)."""
        with self._read:
            rows = self._history_rows()
            key = (len(rows), tuple(rows[-1].values()) if rows else None)
            if key != self._frame_key:
                self._frame, self._frame_key = history_frame(rows), key
            return self._frame

    def snapshot(self) -> Snapshot:
        """A copy for a page to draw, taken without waiting for the training step."""
        t = self.trainer
        with self._meta:
            fields = dict(run_id=self.run_id, label=self.label, status=self.status, message=self.message,
                          step=t.steps_done, target_step=self.target_step, running_seconds=self.running_seconds)
            samples = list(self.samples)
        active = self._scheduler.active_jobs()
        return Snapshot(**fields, lr=t.lr, history=self.history(), samples=samples,
                        parameters=self._parameters, vocab_size=len(t.vocab),
                        uniform_perplexity=t.uniform_perplexity, unigram_perplexity=t.unigram_perplexity,
                        model_config=self.model_config, train_config=self.train_config,
                        corpus_key=self.corpus_key, steps_per_minute=self.steps_per_minute(),
                        share=self._scheduler.share(), active_runs=active, workers=self._scheduler.workers)

    def copy_model(self) -> tuple[CharModel, object, ModelConfig]:
        """A CPU copy of the current weights (taken between steps), in eval mode."""
        with self._lock:
            cfg, vocab = self.trainer.model_config, self.trainer.vocab
            weights = {k: v.detach().to("cpu", copy=True) for k, v in self.trainer.model.state_dict().items()}
        model = CharModel(cfg)
        model.load_state_dict(weights)
        return model.eval(), vocab, cfg

    def checkpoint_bytes(self) -> bytes:
        """A checkpoint of the run (checkpoint.save_checkpoint), taken between steps."""
        from .checkpoint import save_checkpoint
        with self._lock:
            return save_checkpoint(self.trainer)

    def val_text(self, n_chars: int = 300) -> str:
        return self.trainer.val_text(n_chars)

    def free(self) -> None:
        """Stop and drop the trainer's memory (the run is gone from the registry)."""
        self.stop("Freed.")


class LocalBackend:
    """Runs train on this process's scheduler (the default: nothing to start)."""
    name = "local"

    def __init__(self, scheduler: Scheduler, limits: Limits):
        self.scheduler, self.limits = scheduler, limits

    def make_run(self, model_config: ModelConfig, train_config: TrainConfig, text: str, owner: str,
                 label: str = "", corpus_key: str = "", **trainer_kwargs) -> Run:
        return Run(Trainer(model_config, train_config, text, **trainer_kwargs), owner, self.scheduler,
                   self.limits, label, corpus_key)


class UnavailableBackend:
    """A backend that cannot make runs; Start shows why (e.g. a misspelt PLAYGROUND_BACKEND)."""
    name = "unavailable"

    def __init__(self, message: str):
        self.message = message

    def make_run(self, *args, **kwargs) -> Run:
        raise ValueError(self.message)


def backend_from_env(scheduler: Scheduler, limits: Limits, env: dict | None = None):
    """PLAYGROUND_BACKEND: "local" (default) or "ray" (playground/ray_backend.py; ray is imported
    on the first run only)."""
    name = (os.environ if env is None else env).get("PLAYGROUND_BACKEND", "").strip().lower() or "local"
    if name == "local":
        return LocalBackend(scheduler, limits)
    if name == "ray":
        from .ray_backend import RayBackend
        return RayBackend(limits, env)
    log.error("PLAYGROUND_BACKEND=%r is not a backend (use 'local' or 'ray'): no run can start", name)
    return UnavailableBackend(f"PLAYGROUND_BACKEND={name[:20]!r} is not a backend: the instructor can "
                              "set 'local' or 'ray'")


@dataclass
class Workspace:
    """The runs one link owns, in the order they were created, and who is looking at them."""
    token: str
    run_ids: list = field(default_factory=list)
    active_run_id: str | None = None
    viewers: int = 0
    left_at: float = field(default_factory=time.time)   # when the last viewer left


class RunRegistry:
    """Runs by unguessable id, grouped in workspaces (one per link); frees abandoned ones."""

    def __init__(self, max_concurrent: int | None = None, limits: Limits | None = None,
                 scheduler: Scheduler | None = None, reap_every: float = 5.0, backend=None):
        self.limits = limits or LIMITS
        if max_concurrent is not None:
            self.limits = replace(self.limits, max_concurrent=max_concurrent)
        self.scheduler = scheduler or Scheduler(max_workers=self.limits.max_concurrent)
        self.backend = backend or LocalBackend(self.scheduler, self.limits)   # makes the runs
        self.runs: dict[str, Run] = {}
        self.workspaces: dict[str, Workspace] = {}
        self._lock = threading.RLock()
        self._reap_every = reap_every
        self._reaper: threading.Thread | None = None

    @property
    def max_concurrent(self) -> int:
        return self.scheduler.max_workers

    # ---- workspaces -------------------------------------------------------------------------
    def has_workspace(self, token: str) -> bool:
        with self._lock:
            return any(secrets.compare_digest(token, t) for t in self.workspaces) if token else False

    def workspace(self, token: str) -> Workspace:
        with self._lock:
            return self.workspaces.setdefault(token, Workspace(token))

    def attach(self, token: str) -> None:
        """A browser session started viewing this workspace."""
        with self._lock:
            self.workspace(token).viewers += 1

    def detach(self, token: str) -> None:
        """A browser session viewing this workspace closed; the grace period starts at zero viewers."""
        with self._lock:
            ws = self.workspaces.get(token)
            if ws is not None:
                ws.viewers = max(0, ws.viewers - 1)
                if ws.viewers == 0:
                    ws.left_at = time.time()
                    log.info("workspace %s: last viewer left; its %d run(s) are kept for %g min",
                             token[:6], len(ws.run_ids), self.limits.grace_minutes)

    def active_run(self, owner: str) -> Run | None:
        with self._lock:
            ws = self.workspaces.get(owner)
            return self.get(ws.active_run_id, owner) if ws else None

    def set_active(self, owner: str, run_id: str | None) -> None:
        with self._lock:
            self.workspace(owner).active_run_id = run_id

    # ---- runs -----------------------------------------------------------------------------
    def create(self, model_config: ModelConfig, train_config: TrainConfig, text: str, owner: str,
               label: str = "", corpus_key: str = "", **trainer_kwargs) -> Run:
        """Build the trainer now (config errors raise ValueError here) and register the run."""
        self._start_reaper()
        if len(self.runs_of(owner)) >= self.limits.max_runs_per_learner:
            raise ValueError(f"this link already keeps {self.limits.max_runs_per_learner} runs, the server's "
                             "limit: delete some on the Compare runs page first")
        run = self.backend.make_run(model_config, train_config, text, owner, label, corpus_key, **trainer_kwargs)
        with self._lock:
            self.runs[run.run_id] = run
            self.workspace(owner).run_ids.append(run.run_id)
        return run

    def get(self, run_id: str | None, owner: str | None) -> Run | None:
        """The run if it exists and belongs to `owner` (compared in constant time), else None."""
        run = self.runs.get(run_id) if run_id else None
        return run if run is not None and secrets.compare_digest(run.owner, owner or "") else None

    def runs_of(self, owner: str) -> list[Run]:
        """The workspace's runs, oldest first."""
        with self._lock:
            ws = self.workspaces.get(owner)
            return [self.runs[r] for r in ws.run_ids if r in self.runs] if ws else []

    def remove(self, run_id: str) -> None:
        with self._lock:
            run = self.runs.pop(run_id, None)
            if run is not None and (ws := self.workspaces.get(run.owner)) is not None:
                ws.run_ids = [r for r in ws.run_ids if r != run_id]
                if ws.active_run_id == run_id:
                    ws.active_run_id = None
        if run is not None:
            run.free()

    def stop_owner(self, owner: str) -> None:
        """Stop and free all of a workspace's runs now."""
        runs = self.runs_of(owner)
        for run in runs:
            self.remove(run.run_id)
        with self._lock:
            self.workspaces.pop(owner, None)
        log.info("workspace %s: stopped and freed %d run(s)", owner[:6], len(runs))
        _release_memory()

    def reap(self, now: float | None = None) -> int:
        """Free the workspaces nobody has viewed for the grace period; returns how many."""
        now = time.time() if now is None else now
        grace = self.limits.grace_minutes * 60
        with self._lock:
            gone = [t for t, ws in self.workspaces.items() if ws.viewers == 0 and now - ws.left_at > grace]
        for token in gone:
            self.stop_owner(token)
        return len(gone)

    def _start_reaper(self) -> None:
        with self._lock:
            if self._reaper is not None:
                return
            self._reaper = threading.Thread(target=self._reap_loop, name="run-reaper", daemon=True)
            self._reaper.start()

    def _reap_loop(self) -> None:
        while True:
            time.sleep(self._reap_every)
            try:
                self.reap()
            except Exception:  # noqa: BLE001 - the reaper must survive anything
                log.exception("reaper failed")


def _release_memory() -> None:
    """Give freed memory back to the OS: glibc keeps freed arenas otherwise (RSS grew ~90 MB per
    round of 30 runs although every run was freed)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


REGISTRY = RunRegistry(scheduler=SCHEDULER, backend=backend_from_env(SCHEDULER, LIMITS))
