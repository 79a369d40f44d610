"""The run front: what every backend shares, declared once.

    RunFront      the members pages and playground/ui use of a run (a typing.Protocol):
                  control (start, pause, resume, step, stop, set_lr, update_settings,
                  restart), reading (status, steps_done, snapshot, copy_model, ...)
    Status        a run's status (a str enum: "running" == Status.RUNNING); ACTIVE, ENDED
    RunSettings   how a run samples text and measures validation loss while it trains
    HistoryRow    one optimisation step as a run's history holds it (a row of Snapshot.history)
    Sample        text a run generated while training
    RunState      a run's status, step and lr: the part of a snapshot that changes every step
    Snapshot      a consistent copy of a run for a page to draw
    RunObserver   what a run tells an observer (e.g. a run store): rows, samples, status
    Backend       what makes runs: `make_run(...) -> RunFront`

The local backend (playground/run.py: `Run`) and the Ray backend (playground/ray_backend.py:
`RayRun`) implement RunFront; tests/test_front.py holds both against it. This module imports
no backend: backends import it.

Observing a run (for a run store): pass `observer=` to `RunRegistry` (or set
`registry.observer` before runs are created). Calls come from the training thread (local) or
from the thread that polled a Ray run (a page or the backend's watcher): keep them quick (queue
slow writes) and never call back into the run from them.
    on_history(run_id, rows)      rows new or changed since the last call, in step order; a row
                                  may come again with its validation loss filled in: upsert by step
    on_sample(run_id, sample)     each generated sample, once
    on_status(run_id, status, step)  every status change, with the steps done then; after
                                  DIVERGED, rows past `step` are void (the weights were rolled back)
A full checkpoint at any time: `run.checkpoint_bytes()` (checkpoint.save_checkpoint's format).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from .config import ModelConfig, TrainConfig


class Status(StrEnum):
    READY = "ready"             # built, not started (or restarted from a checkpoint)
    QUEUED = "queued"           # started, waiting for its first turn
    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"       # reached its target step
    STOPPED = "stopped"         # by the learner, a limit, or freed
    DIVERGED = "diverged"       # NaN/inf loss or gradient: the message says what to try
    ERROR = "error"             # an exception in training: the message says which
    LOST = "lost"               # the worker running it died (Ray): restart from the last checkpoint


ACTIVE = frozenset({Status.QUEUED, Status.RUNNING, Status.PAUSED})   # holds a place on the scheduler
ENDED = frozenset(set(Status) - ACTIVE - {Status.READY})


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
class StepMetrics:
    """What one optimisation step measured (Trainer.step() returns it)."""
    step: int                   # optimisation steps done, this one included
    loss: float                 # training cross-entropy of this minibatch (nats/token)
    perplexity: float           # exp(loss)
    grad_norm: float            # global L2 norm of the gradient before clipping
    clipped: bool               # whether clipping scaled the gradient down
    tokens: int                 # tokens in this minibatch (B * T)
    seconds: float              # wall time of this step
    lr: float = 0.0             # learning rate used
    epoch: int = 0              # passes over the training text started so far


@dataclass
class HistoryRow(StepMetrics):
    """One optimisation step (StepMetrics) plus what was measured after it."""
    val_loss: float | None = None           # validation loss measured after this step (None: not measured)
    val_bits_per_char: float | None = None  # the same in bits per character of text
    annealed: bool = False      # lr was divided after this step's validation

    @classmethod
    def from_dict(cls, d: dict) -> "HistoryRow":
        """From a checkpoint's plain dict (keys it lacks take their defaults; unknown ones are dropped)."""
        return cls(**{k: v for k, v in d.items() if k in HISTORY_FIELDS})

    def to_dict(self) -> dict:
        """Plain data (what a checkpoint stores): what was not measured is left out."""
        return {k: v for k, v in vars(self).items() if v is not None}


HISTORY_FIELDS = tuple(f.name for f in fields(HistoryRow))


def history_frame(rows: list[HistoryRow]) -> pd.DataFrame:
    """History rows -> DataFrame with val_perplexity and tokens_per_s columns; val_loss and
    val_bits_per_char are NaN where not measured."""
    df = pd.DataFrame([vars(r) for r in rows], columns=HISTORY_FIELDS)
    df["val_loss"] = df["val_loss"].astype(float)
    df["val_bits_per_char"] = df["val_bits_per_char"].astype(float)
    df["annealed"] = df["annealed"].eq(True)
    df["val_perplexity"] = np.exp(df["val_loss"])
    df["tokens_per_s"] = df["tokens"] / df["seconds"]
    return df


def read_from(seen: int, source_rows: int) -> int:
    """Where a reader that has `seen` rows fetches from: its last row (re-read: validation loss
    lands after the step), or 0 when the source has fewer rows (a divergence rolled back)."""
    return 0 if source_rows < seen else max(0, seen - 1)


class HistoryCache:
    """The history rows a reader has seen, brought up to date from a source that appends rows,
    rewrites its last one (validation loss lands after the step) and may roll back (divergence).
    Not thread-safe: the owner holds its own lock.

        start = cache.read_from(source_rows)      # fetch the source's rows from `start` on
        cache.merge(start, fetched)
    """

    def __init__(self):
        self.rows: list[HistoryRow] = []
        self._frame, self._key = history_frame([]), (0, None)

    def read_from(self, source_rows: int) -> int:
        return read_from(len(self.rows), source_rows)

    def merge(self, start: int, rows: list[HistoryRow]) -> None:
        del self.rows[start:]
        self.rows.extend(rows)

    def frame(self) -> pd.DataFrame:
        """The rows as a DataFrame, rebuilt only when a row was added or changed (a live page
        asks every second, often between two steps)."""
        key = (len(self.rows), tuple(vars(self.rows[-1]).values()) if self.rows else None)
        if key != self._key:
            self._frame, self._key = history_frame(self.rows), key
        return self._frame


@dataclass(frozen=True)
class RunState:
    """What changes as a run trains, read without waiting for a step."""
    status: Status = Status.READY
    message: str = ""
    step: int = 0               # steps done
    target_step: int = 0
    lr: float = 0.0             # the lr the next step uses (annealing may have divided it)
    base_lr: float = 0.0        # the lr asked for (config or set_lr), before annealing
    running_seconds: float = 0.0    # time spent training (its turns only)


@dataclass
class Snapshot:
    run_id: str
    label: str
    status: Status
    message: str
    step: int
    target_step: int
    lr: float
    history: pd.DataFrame       # history_frame(rows)
    samples: list[Sample]       # generated every `sample_every` steps
    parameters: int
    vocab_size: int
    uniform_perplexity: float
    unigram_perplexity: float
    running_seconds: float      # time spent training this run (its turns only)
    model_config: ModelConfig = None
    train_config: TrainConfig = None
    corpus_key: str = ""
    steps_per_minute: float = 0.0   # wall-clock rate over the last ~12 s (turns shared with others)
    share: float = 1.0              # fraction of one core this run gets now
    active_runs: int = 0            # runs training on this server now
    workers: int = 1                # trainer threads serving them (Ray: the cluster's CPUs)
    active_clients: int = 0         # people (clients) with runs training now (0: not known)
    client_runs: int = 0            # of those runs, the ones of this run's client
    client_cores: float = 0.0       # cores this run's client's runs share now
    backend: str = "local"          # where the run trains: "local" | "ray"
    outage: bool = False            # Ray: the cluster cannot be reached now (a LOST run waits for it)

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


@dataclass(frozen=True)
class RunSummary:
    """What does not change once a run is built (a backend reads it once)."""
    model_config: Any           # ModelConfig, vocab_size filled in
    train_config: Any           # TrainConfig
    parameters: int
    vocab_size: int
    uniform_perplexity: float
    unigram_perplexity: float
    extra: dict = field(default_factory=dict)     # backend-specific (Ray: node_id, pid)


@runtime_checkable
class RunObserver(Protocol):
    """Told what a run does (see the module docstring); e.g. a run store."""

    def on_history(self, run_id: str, rows: list[HistoryRow]) -> None: ...

    def on_sample(self, run_id: str, sample: Sample) -> None: ...

    def on_status(self, run_id: str, status: Status, step: int) -> None: ...


@runtime_checkable
class RunFront(Protocol):
    """A training run as pages see it, whichever backend trains it."""
    run_id: str                 # unguessable; the registry's key
    owner: str                  # the workspace token of the link that made it
    label: str
    corpus_key: str
    model_config: ModelConfig
    train_config: TrainConfig
    settings: RunSettings       # change with update_settings
    can_restart: bool           # whether restart() can bring a LOST run back

    @property
    def status(self) -> Status: ...

    @property
    def message(self) -> str: ...

    @property
    def is_active(self) -> bool: ...

    @property
    def steps_done(self) -> int: ...

    @property
    def lr(self) -> float: ...

    @property
    def base_lr(self) -> float: ...

    def start(self, steps: int) -> None:
        """Train `steps` more steps in turns with other runs (no-op while active)."""

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def step(self, n: int = 1) -> None:
        """Exactly `n` more steps (pauses a running run first); clicks add up."""

    def stop(self, message: str = "") -> None: ...

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the run is no longer active; False on timeout."""

    def set_lr(self, lr: float) -> None:
        """The next step uses `lr` (ValueError now if invalid); never waits for a step."""

    def update_settings(self, **changes) -> None: ...

    def restart(self) -> None:
        """A LOST run starts again from its last checkpoint (ValueError if it cannot)."""

    def snapshot(self) -> Snapshot: ...

    def copy_model(self) -> tuple:
        """(model, vocab, model_config): a CPU copy of the weights, in eval mode."""

    def checkpoint_bytes(self) -> bytes: ...

    def val_text(self, n_chars: int = 300) -> str: ...

    def free(self) -> None:
        """Stop and release the run's memory (it is gone from the registry)."""


class Backend(Protocol):
    """Makes runs; the registry checks limits and ownership first."""
    name: str

    def make_run(self, model_config: ModelConfig, train_config: TrainConfig, text: str, owner: str,
                 label: str = "", corpus_key: str = "", observer: RunObserver | None = None,
                 **trainer_kwargs) -> RunFront: ...


def wait_while_active(run: RunFront, timeout: float | None = None, every: float = 0.05) -> bool:
    """Poll `run.is_active` until it is False (True) or `timeout` seconds passed (False)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while run.is_active:
        if deadline is not None and time.monotonic() >= deadline:
            return False
        time.sleep(every)
    return True


def default_label(model_config) -> str:
    return f"{model_config.cell} h{model_config.hidden_size}"
