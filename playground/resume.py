"""Exact resume: a Trainer's full state (Trainer.state_dict) as bytes and back.

Unlike checkpoint.py (weights + configs + vocab + history, for Generate and downloads), this
keeps everything needed to continue a run as if it had never stopped: optimizer moments, lr and
annealing state, the sampler's position and carried hidden state, RNG states. Bytes are written
with torch.save and read with torch.load(weights_only=True): no pickled classes, no code runs.
"""
from __future__ import annotations

import io
import pickle
import zipfile

import torch

from .config import ModelConfig, TrainConfig
from .train import STATE_FORMAT, Trainer
from .vocab import Vocab


class ResumeError(ValueError):
    """Saved trainer state could not be read; the message says why."""


def state_bytes(state: dict) -> bytes:
    """torch.save of a Trainer.state_dict() (call this off the training thread: the dict is a copy)."""
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def read_state(data: bytes) -> dict:
    """The state dict in `data`, loaded with weights_only=True; ResumeError if it is not one."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise ResumeError("the saved trainer state is not a PyTorch file")
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as e:
        raise ResumeError(f"the saved trainer state could not be read ({type(e).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise ResumeError("the saved data is not an RNN Playground trainer state")
    return state


def restore_trainer(data: bytes, text: str, device: str | None = None) -> Trainer:
    """A Trainer for `text` that continues exactly where the saved one stopped
    (optionally on another device)."""
    state = read_state(data)
    tc = dict(state["train_config"], **({"device": device} if device else {}))
    try:
        trainer = Trainer(ModelConfig.from_dict(state["model_config"]), TrainConfig.from_dict(tc), text,
                          vocab=Vocab.from_dict(state["vocab"]))
        trainer.load_state_dict(state)
    except (KeyError, RuntimeError) as e:
        raise ResumeError(f"the saved trainer state does not fit this run ({type(e).__name__}: "
                          f"{str(e)[:200]})") from None
    return trainer
