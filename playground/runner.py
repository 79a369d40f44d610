"""Background training runs: one thread per run, never touching Streamlit.

    REGISTRY.create(model_config, train_config, text, owner) -> Run
    run.start(steps) / pause() / resume() / step_once() / stop() / set_lr(lr)
    run.snapshot() -> Snapshot        # thread-safe copy for a page to draw
    run.copy_model() -> (model, vocab, model_config)   # CPU copy between steps

The registry keys runs by an unguessable id and an owner token (one per browser session),
caps how many train at once (a BoundedSemaphore; others wait "queued"), and stops runs that
nobody has looked at for a while or that ran past a maximum wall time.
"""
from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass, field

import pandas as pd
import torch

from .config import ModelConfig, TrainConfig
from .generate import generate
from .models import CharModel, count_parameters
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


@dataclass
class Snapshot:
    run_id: str
    label: str
    status: str                 # ready | queued | running | paused | finished | stopped | diverged | error
    message: str
    step: int
    target_step: int
    lr: float
    history: pd.DataFrame       # Trainer.history
    samples: list[dict]         # {"step", "prefix", "greedy", "sampled", "temperature"}
    parameters: int
    vocab_size: int
    uniform_perplexity: float
    unigram_perplexity: float
    running_seconds: float      # wall time spent in the training thread
    model_config: ModelConfig = None
    train_config: TrainConfig = None

    @property
    def tokens_per_s(self) -> float:
        """Training throughput over the last 20 steps (step time only)."""
        tail = self.history.tail(20)
        s = tail["seconds"].sum() if len(tail) else 0.0
        return float(tail["tokens"].sum() / s) if s else 0.0

    @property
    def clipped_share(self) -> float:
        return float(self.history["clipped"].mean()) if len(self.history) else 0.0


class Run:
    def __init__(self, trainer: Trainer, owner: str, semaphore: threading.Semaphore,
                 max_wall_seconds: float, label: str = ""):
        self.run_id = secrets.token_urlsafe(16)
        self.owner = owner
        self.label = label or f"{trainer.model_config.cell} h{trainer.model_config.hidden_size}"
        self.trainer = trainer
        self.corpus_key = ""                   # which corpus the page trained it on
        self.settings = RunSettings()
        self.status, self.message = "ready", ""
        self.target_step = 0
        self.samples: list[dict] = []
        self.created = self.last_seen = time.time()
        self.running_seconds = 0.0
        self._semaphore, self._max_wall = semaphore, max_wall_seconds
        self._lock = threading.Lock()          # guards the trainer and the published fields
        self._stop, self._paused, self._step_once = threading.Event(), threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None

    # ---- control (called from page threads) -------------------------------------------
    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE

    def start(self, steps: int) -> None:
        """Train `steps` more steps in a background thread (no-op if already active)."""
        if self.is_active or steps < 1:
            return
        with self._lock:
            self.target_step = self.trainer.steps_done + int(steps)
            self.status, self.message = "queued", ""
        self._stop.clear()
        self._paused.clear()
        self._thread = threading.Thread(target=self._work, name=f"train-{self.run_id[:6]}", daemon=True)
        self._thread.start()

    def pause(self) -> None:
        if self.status in ("queued", "running"):
            self._paused.set()
            self.status = "paused"

    def resume(self) -> None:
        if self.status == "paused":
            self._paused.clear()
            self.status = "running"

    def step_once(self) -> None:
        """One step: pauses a running run first; starts a paused one if idle."""
        if not self.is_active:
            self.start(1)
            return
        self.pause()
        self._step_once.set()

    def stop(self, message: str = "") -> None:
        self._stop.set()
        if self.is_active:
            self.status, self.message = "stopped", message or "Stopped by you."

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def set_lr(self, lr: float) -> None:
        with self._lock:
            self.trainer.set_lr(lr)

    def touch(self) -> None:
        self.last_seen = time.time()

    # ---- the training thread -----------------------------------------------------------
    def _work(self) -> None:
        torch.set_num_threads(1)              # per-thread on this torch build
        if not self._acquire_slot():
            return
        started = time.monotonic()
        try:
            if self.status == "queued":
                self.status = "paused" if self._paused.is_set() else "running"
            first_step, seconds_before = self.trainer.steps_done, self.running_seconds
            while not self._stop.is_set():
                if self.trainer.steps_done >= self.target_step:
                    self.status, self.message = "finished", self._summary(first_step, seconds_before)
                    break
                if time.monotonic() - started > self._max_wall:
                    self.status = "stopped"
                    self.message = f"Stopped after the server's limit of {self._max_wall / 60:.0f} minutes per run."
                    break
                if self._paused.is_set() and not self._step_once.is_set():
                    self._step_once.wait(0.1)
                    continue
                self._step_once.clear()
                t0 = time.perf_counter()
                with self._lock:
                    m = self.trainer.step()
                    self._after_step(m)
                    self.running_seconds += time.perf_counter() - t0
        except TrainingDiverged as e:
            self.status, self.message = "diverged", str(e)
        except Exception as e:  # noqa: BLE001 - shown to the user instead of a dead thread
            self.status, self.message = "error", f"Training failed: {type(e).__name__}: {e}"
        finally:
            self._semaphore.release()

    def _summary(self, first_step: int, seconds_before: float) -> str:
        steps = self.trainer.steps_done - first_step
        tokens = steps * self.trainer.train_config.batch_size * self.trainer.train_config.seq_len
        seconds = max(self.running_seconds - seconds_before, 1e-9)
        return (f"Trained {steps:,} steps in {seconds:.1f} s: {tokens / seconds:,.0f} tokens/s overall "
                f"(validation and samples included).")

    def _acquire_slot(self) -> bool:
        while not self._semaphore.acquire(timeout=0.2):
            if self._stop.is_set():
                return False
        if self._stop.is_set():
            self._semaphore.release()
            return False
        return True

    def _after_step(self, m: StepMetrics) -> None:
        s = self.settings
        last = m.step == self.target_step
        if m.step % s.eval_every == 0 or last or m.step == 1:
            self.trainer.evaluate()
        if m.step % s.sample_every == 0 or last:
            self.samples.append(self._sample(m.step))

    def _sample(self, step: int) -> dict:
        s, t = self.settings, self.trainer
        prefix = s.prefix or t.val_text(1)
        common = dict(model=t.model, vocab=t.vocab, prefix=prefix, length=s.sample_length)
        return {"step": step, "prefix": prefix, "temperature": s.temperature,
                "greedy": generate(**common, greedy=True),
                "sampled": generate(**common, temperature=s.temperature, seed=t.train_config.seed + step)}

    # ---- reading (called from page threads) --------------------------------------------
    def snapshot(self) -> Snapshot:
        """A consistent copy, taken between steps; the DataFrame is built outside the lock
        so the training thread waits only for the row copy."""
        self.touch()
        with self._lock:
            t = self.trainer
            rows, samples = t.history_rows(), list(self.samples)
            fields = dict(run_id=self.run_id, label=self.label, status=self.status, message=self.message,
                          step=t.steps_done, target_step=self.target_step, lr=t.lr,
                          running_seconds=self.running_seconds)
        return Snapshot(**fields, history=history_frame(rows), samples=samples,
                        parameters=count_parameters(t.model), vocab_size=len(t.vocab),
                        uniform_perplexity=t.uniform_perplexity, unigram_perplexity=t.unigram_perplexity,
                        model_config=t.model_config, train_config=t.train_config)

    def copy_model(self) -> tuple[CharModel, object, ModelConfig]:
        """A CPU copy of the current weights (taken between steps), in eval mode."""
        self.touch()
        with self._lock:
            cfg, vocab = self.trainer.model_config, self.trainer.vocab
            weights = {k: v.detach().to("cpu", copy=True) for k, v in self.trainer.model.state_dict().items()}
        model = CharModel(cfg)
        model.load_state_dict(weights)
        return model.eval(), vocab, cfg

    def checkpoint(self, save) -> bytes:
        """`save(trainer)` (e.g. checkpoint.save_checkpoint) between steps."""
        with self._lock:
            return save(self.trainer)

    def val_text(self, n_chars: int = 300) -> str:
        return self.trainer.val_text(n_chars)


@dataclass
class RunRegistry:
    max_concurrent: int = 4             # runs training at once on this server
    idle_seconds: float = 30 * 60       # runs unseen this long are stopped and freed
    max_wall_seconds: float = 60 * 60   # one start() trains at most this long
    runs: dict = field(default_factory=dict)

    def __post_init__(self):
        self._semaphore = threading.BoundedSemaphore(self.max_concurrent)
        self._lock = threading.Lock()

    def create(self, model_config: ModelConfig, train_config: TrainConfig, text: str, owner: str,
               label: str = "", **trainer_kwargs) -> Run:
        """Build the trainer now (config errors raise ValueError here) and register the run."""
        self.reap()
        run = Run(Trainer(model_config, train_config, text, **trainer_kwargs), owner,
                  self._semaphore, self.max_wall_seconds, label)
        with self._lock:
            self.runs[run.run_id] = run
        return run

    def get(self, run_id: str | None, owner: str | None) -> Run | None:
        """The run if it exists and belongs to `owner`, else None."""
        run = self.runs.get(run_id) if run_id else None
        return run if run is not None and secrets.compare_digest(run.owner, owner or "") else None

    def runs_of(self, owner: str) -> list[Run]:
        with self._lock:
            return [r for r in self.runs.values() if r.owner == owner]

    def remove(self, run_id: str) -> None:
        with self._lock:
            run = self.runs.pop(run_id, None)
        if run is not None:
            run.stop("Removed.")

    def stop_owner(self, owner: str) -> None:
        """Called when a browser session goes away: stop and free all its runs."""
        runs = self.runs_of(owner)
        for run in runs:
            self.remove(run.run_id)
        log.info("session closed: stopped and freed %d run(s)", len(runs))

    def reap(self) -> None:
        now = time.time()
        for run in list(self.runs.values()):
            if now - run.last_seen > self.idle_seconds:
                self.remove(run.run_id)


def _env_int(name: str, default: int) -> int:
    try:
        return max(1, int(os.environ.get(name, default)))
    except ValueError:
        return default


REGISTRY = RunRegistry(max_concurrent=_env_int("PLAYGROUND_MAX_RUNS", max(2, (os.cpu_count() or 2))))

