"""Exact resume: a Trainer's full state (trainer_state) as bytes and back.

Unlike checkpoint.py (weights + configs + vocab + history, for Generate and downloads), this
keeps everything needed to continue a run as if it had never stopped: optimizer moments, lr and
annealing state, the sampler's position and carried hidden state, RNG states. Bytes are written
with torch.save and read with torch.load(weights_only=True): no pickled classes, no code runs.
"""
from __future__ import annotations

import io
import pickle
import random
import zipfile

import torch

from .config import ModelConfig, TrainConfig
from .train import STATE_FORMAT, Trainer
from .vocab import Vocab


class ResumeError(ValueError):
    """Saved trainer state could not be read; the message says why."""


def trainer_state(trainer: Trainer) -> dict:
    """Everything an exact resume needs, as plain data (tensors, numbers, lists; CPU copies, so
    another thread may serialise it while training goes on): configs, vocab, weights, optimizer
    state (its lr included), Trainer.position() (base_lr and best validation loss for
    annealing; the sampler's epoch, batches taken and carried hidden state), torch's and
    Python's global RNG states (dropout) and the history rows (steps_done = their number).
    A fresh Trainer for the same configs and text + load_trainer_state(it, state) goes on with
    the losses the uninterrupted run would have had. Take it between steps."""
    return _cpu_copy({
        "format": STATE_FORMAT, "steps_done": trainer.steps_done,
        "model_config": trainer.model_config.to_dict(), "train_config": trainer.train_config.to_dict(),
        "vocab": trainer.vocab.to_dict(), "model": trainer.model.state_dict(),
        "optimizer": trainer.optimizer.state_dict(), **trainer.position(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if trainer.device.type == "cuda" else [],
        "python_rng": random.getstate(), "history": trainer.history_rows()})


def load_trainer_state(trainer: Trainer, state: dict) -> None:
    """Restore a trainer_state() into a Trainer with the same configs (the device may differ)
    and text; ValueError if the configs differ. Sets the process-wide torch and Python RNGs."""
    if state.get("format") != STATE_FORMAT:
        raise ValueError(f"this is not a trainer state (expected format {STATE_FORMAT!r})")
    ours = {"model_config": trainer.model_config.to_dict(),
            "train_config": {**trainer.train_config.to_dict(), "device": state["train_config"].get("device")}}
    for key, mine in ours.items():
        if {**mine, **state[key]} != mine:
            raise ValueError(f"the saved state's {key} differs from this trainer's")
    trainer.model.load_state_dict(state["model"])
    trainer.optimizer.load_state_dict(state["optimizer"])
    trainer.set_position(state["history"], state["base_lr"], state["best_val"], state["epoch"],
                         state["epoch_batches"], state["hidden"])
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"] and trainer.device.type == "cuda":
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    random.setstate(_rng_tuple(state["python_rng"]))


def is_trainer_state(data: bytes) -> bool:
    """Whether `data` is state_bytes(...) (not checkpoint.save_checkpoint's format)."""
    try:
        read_state(data)
    except ResumeError:
        return False
    return True


def state_bytes(state: dict) -> bytes:
    """torch.save of a trainer_state() (call this off the training thread: the dict is a copy)."""
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
        load_trainer_state(trainer, state)
    except (KeyError, RuntimeError, ValueError) as e:
        raise ResumeError(f"the saved trainer state does not fit this run ({type(e).__name__}: "
                          f"{str(e)[:200]})") from None
    return trainer


def _cpu_copy(obj):
    """A deep copy with every tensor cloned to the CPU (dicts, lists and tuples kept)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: _cpu_copy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu_copy(v) for v in obj)
    return obj


def _rng_tuple(state) -> tuple:
    """random.getstate()'s (version, tuple of ints, gauss), also after a round trip as lists."""
    version, internal, gauss = state
    return int(version), tuple(int(x) for x in internal), gauss
