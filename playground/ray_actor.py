"""What crosses the wire between a Ray run's proxy (playground/ray_run.py) and the trainer pool
that trains it (playground/ray_pool.py): the run front's dataclasses, RunSummary (once),
RunState, and RunDelta (a RunState plus the HistoryRows and Samples the proxy lacks); RunSpec,
what it takes to build the run again on another pool; the control calls a proxy may send.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .config import ModelConfig, TrainConfig
from .front import HistoryRow, RunState, Sample

CONTROLS = frozenset({"start", "pause", "resume", "step", "stop", "set_lr", "update_settings"})


@dataclass
class RunSpec:
    """What it takes to build the run again, on any pool (restart, recovery)."""
    model_config: ModelConfig
    train_config: TrainConfig
    text: str                   # the training text (sent with each placement)
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


def resume_kwargs(checkpoint: bytes) -> dict:
    from .checkpoint import read_checkpoint
    ckpt = read_checkpoint(checkpoint)
    return {"vocab": ckpt["vocab"], "state_dict": ckpt["state_dict"], "history": ckpt["history"]}
