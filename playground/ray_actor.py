"""The actor side of the Ray backend: `RunActor` holds a local `playground.run.Run` on its own
one-thread scheduler, in a Ray worker process (the proxy is playground/ray_backend.py).

It is a threaded actor with two lanes (Ray concurrency groups):
    default, 1 thread, in submission order: control calls, state, snapshot_since. Each takes
        only the run's short status lock (a local set_lr never waits for a step either), so it
        is answered while a step computes on the scheduler's thread; the proxy sends control
        calls without waiting for them, in order, so a read after a control call sees its effect.
    "weights", 2 threads: copy_weights, checkpoint. They wait for the end of the current step,
        and must not hold up the snapshots behind them.

What crosses the wire is the run front's dataclasses: RunSummary (once), RunState, and
RunDelta (a RunState plus HistoryRows and Samples the proxy lacks).
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, replace

from .config import ModelConfig, TrainConfig
from .front import HistoryRow, RunState, RunSummary, Sample, read_from
from .limits import Limits
from .run import Run
from .scheduler import Scheduler
from .train import Trainer

CONTROLS = frozenset({"start", "pause", "resume", "step", "stop", "set_lr", "update_settings"})


@dataclass
class RunSpec:
    """What it takes to build the run's actor again (restart)."""
    model_config: ModelConfig
    train_config: TrainConfig
    text_ref: object            # ray.ObjectRef of the training text (put once)
    label: str
    corpus_key: str
    trainer_kwargs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RunDelta:
    """What a proxy that has `n_rows` rows and `n_samples` samples lacks (snapshot_since)."""
    state: RunState
    start: int                      # the rows replace the proxy's from this index on
    rows: list[HistoryRow]
    samples: list[Sample]
    steps_per_minute: float


class RunActor:
    """One run on an actor-local scheduler. Wrapped by `ray.remote` when the backend connects."""

    def __init__(self, model_config: ModelConfig, train_config: TrainConfig, text: str, limits: Limits,
                 label: str, corpus_key: str, trainer_kwargs: dict, checkpoint: bytes | None = None,
                 samples: list[Sample] | None = None):
        self.run, self.error = None, ""
        sys.setswitchinterval(0.001)   # a read waits at most ~1 ms for the training thread's GIL (5 ms default)
        try:
            if checkpoint is not None:
                trainer_kwargs = resume_kwargs(checkpoint)
            trainer = Trainer(model_config, train_config, text, **trainer_kwargs)
        except (ValueError, RuntimeError) as e:  # shown to the learner as "Could not start: ..."
            self.error = str(e)
            return
        self.run = Run(trainer, owner="", scheduler=Scheduler(max_workers=1), limits=limits,
                       label=label, corpus_key=corpus_key)
        for sample in samples or []:
            self.run.add_sample(sample)

    def ready(self) -> RunSummary | str:
        """What the proxy needs to know once, or why the run could not be built."""
        if self.run is None:
            return self.error
        import ray
        return replace(self.run.summary, extra={"node_id": ray.get_runtime_context().get_node_id(),
                                                "pid": os.getpid()})

    def call(self, name: str, args: tuple = (), kwargs: dict | None = None) -> None:
        """A control call (start, pause, resume, step, stop, set_lr, update_settings)."""
        if name not in CONTROLS:
            raise ValueError(f"not a control call: {name}")
        getattr(self.run, name)(*args, **(kwargs or {}))

    def state(self) -> RunState:
        return self.run.state()

    def snapshot_since(self, n_rows: int, n_samples: int) -> RunDelta:
        """The state and only what the proxy lacks: history rows from its last one on (re-read:
        validation loss lands after the step) and samples after its last."""
        run = self.run
        state = run.state()
        start = read_from(n_rows, state.step)
        return RunDelta(state, start, run.trainer.rows(start), list(run.samples[n_samples:]), run.steps_per_minute())

    def copy_weights(self) -> tuple[dict, object, ModelConfig]:
        """A CPU state_dict (taken between steps), the vocab and the model config."""
        model, vocab, cfg = self.run.copy_model()
        return model.state_dict(), vocab, cfg

    def checkpoint(self) -> tuple[bytes, int]:
        """Checkpoint bytes and the step they were taken at (between steps)."""
        return self.run.checkpoint()

    def val_text(self, n_chars: int) -> str:
        return self.run.val_text(n_chars)


def resume_kwargs(checkpoint: bytes) -> dict:
    from .checkpoint import read_checkpoint
    ckpt = read_checkpoint(checkpoint)
    return {"vocab": ckpt["vocab"], "state_dict": ckpt["state_dict"], "history": ckpt["history"]}
