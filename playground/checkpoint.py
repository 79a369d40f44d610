"""Checkpoints: state_dict + configs + vocab + history as plain data, never pickled classes.

Configs go through to_dict/from_dict, so a checkpoint written before a config field existed
(e.g. tie_weights, anneal_factor) loads with that field's default. Tied weights are saved
under both names (embedding.weight, head.weight) and load back into the one shared tensor.

Loading uses torch.load(weights_only=True): a file that would run code on unpickling, or
that does not hold a playground model, is refused with a CheckpointError that says why.
"""
from __future__ import annotations

import io
import pickle
import zipfile

import torch

from .config import ModelConfig, TrainConfig
from .models import CharModel
from .vocab import Vocab

FORMAT = "rnn-playground/1"


class CheckpointError(ValueError):
    """A checkpoint could not be loaded; the message says why, in a user's terms."""


def save_checkpoint(trainer) -> bytes:
    data = {
        "format": FORMAT,
        "model_config": trainer.model_config.to_dict(),
        "train_config": trainer.train_config.to_dict(),
        "vocab": trainer.vocab.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in trainer.model.state_dict().items()},
        "history": trainer.history_rows(),
    }
    buf = io.BytesIO()
    torch.save(data, buf)
    return buf.getvalue()


def read_checkpoint(data: bytes) -> dict:
    """The checkpoint's dict, checked: format, configs, vocab, weights that fit the config."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise CheckpointError("this file is not a PyTorch checkpoint (torch.save writes a zip archive).")
    try:
        obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        blocked = [line.strip() for line in str(e).splitlines() if "GLOBAL" in line]
        raise CheckpointError(
            "this file is not a plain checkpoint: it asks to load Python objects, which could run "
            "code, so it was refused (torch.load with weights_only=True)."
            + (f" {blocked[0]}" if blocked else "")) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as e:
        raise CheckpointError(f"this file is not a PyTorch checkpoint ({type(e).__name__}).") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(f"this is a PyTorch file but not an RNN Playground checkpoint "
                              f"(expected format {FORMAT!r}).")
    try:
        obj["model_config"] = ModelConfig.from_dict(obj["model_config"])
        obj["train_config"] = TrainConfig.from_dict(obj.get("train_config", {}))
        obj["vocab"] = Vocab.from_dict(obj["vocab"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"the checkpoint's settings are invalid: {e}") from None
    if obj["model_config"].vocab_size != len(obj["vocab"]):
        raise CheckpointError(f"the checkpoint's vocab has {len(obj['vocab'])} tokens but its model "
                              f"expects {obj['model_config'].vocab_size}.")
    return obj


def load_checkpoint(data: bytes) -> tuple[CharModel, Vocab, ModelConfig]:
    obj = read_checkpoint(data)
    model = CharModel(obj["model_config"])
    try:
        model.load_state_dict(obj["state_dict"])
    except (RuntimeError, TypeError, AttributeError) as e:
        raise CheckpointError("the checkpoint's weights do not match its model settings: "
                              f"{str(e).splitlines()[0]}") from None
    model.eval()
    return model, obj["vocab"], obj["model_config"]
