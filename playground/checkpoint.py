"""Checkpoints: state_dict + configs + vocab + history as plain data, never pickled classes.

Configs go through to_dict/from_dict, so a checkpoint written before a config field existed
(e.g. tie_weights, anneal_factor) loads with that field's default. Tied weights are saved
under both names (embedding.weight, head.weight) and load back into the one shared tensor.
The history is saved as columns (one float64 tensor per metric, a mask of the rows that have
it): unpickling 100,000 row dicts took 15 s and ~60 MB; columns take milliseconds. Checkpoints
written with a list of row dicts still load.

An upload is checked before anything it describes is allocated, in this order:
  1. the zip archive's declared sizes: torch.load allocates each entry's declared
     uncompressed size, so a 2 MB file can ask for 2 GB (a zip bomb). The weights together may
     take at most a quarter of the server's per-run memory limit (weights are 4 of the 16
     bytes per parameter the run estimate counts), the pickled settings at most PICKLE_LIMIT;
  2. torch.load(weights_only=True): a file that would run code on unpickling is refused;
  3. the configs (their dataclass validation, then the server's limits), the vocabulary's
     size, the history's length, and every tensor's shape against the shapes its config
     implies (the model built on the `meta` device, which allocates nothing).
Each refusal is a CheckpointError whose message says what is wrong in a learner's terms.
"""
from __future__ import annotations

import io
import math
import pickle
import zipfile

import torch

from . import limits as server_limits
from .config import ModelConfig, TrainConfig
from .models import CharModel
from .vocab import Vocab

FORMAT = "rnn-playground/1"
PICKLE_LIMIT = 4 * 2**20    # bytes: configs + vocab (a 100,000-word vocabulary is ~1.5 MB) + old row history
MAX_ENTRIES = 1_000         # zip entries: one per tensor storage, a few dozen in a real checkpoint
MB = 2**20


class CheckpointError(ValueError):
    """A checkpoint could not be loaded; the message says why, in a user's terms."""


def save_checkpoint(trainer) -> bytes:
    data = {
        "format": FORMAT,
        "model_config": trainer.model_config.to_dict(),
        "train_config": trainer.train_config.to_dict(),
        "vocab": trainer.vocab.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in trainer.model.state_dict().items()},
        "history": pack_history(trainer.history_rows()),
    }
    buf = io.BytesIO()
    torch.save(data, buf)
    return buf.getvalue()


# ---- history as columns -----------------------------------------------------------------------
def pack_history(rows: list[dict]) -> dict:
    """Rows (dicts of numbers or None) -> {"rows": n, "columns": {key: (n,) float64}, "present":
    {key: (n,) uint8: 0 absent, 1 a number, 2 None}, "kinds": {key: "bool" | "int" | "float"}}."""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    out = {"rows": len(rows), "columns": {}, "present": {}, "kinds": {}}
    for k in keys:
        values = [r[k] for r in rows if r.get(k) is not None]
        kind = ("bool" if all(isinstance(v, bool) for v in values) else
                "int" if all(isinstance(v, int) for v in values) else "float")
        out["kinds"][k] = kind
        out["present"][k] = torch.tensor([(k in r) + (k in r and r[k] is None) for r in rows], dtype=torch.uint8)
        out["columns"][k] = torch.tensor([float(v) if (v := r.get(k)) is not None else math.nan for r in rows],
                                         dtype=torch.float64)
    return out


def unpack_history(packed: dict, max_rows: int) -> list[dict]:
    """pack_history's inverse, checked: at most `max_rows` rows, every column that long."""
    n, columns = packed.get("rows"), packed.get("columns")
    present, kinds = packed.get("present"), packed.get("kinds")
    if not (isinstance(n, int) and isinstance(columns, dict) and isinstance(present, dict)
            and isinstance(kinds, dict)):
        raise CheckpointError("the checkpoint's history is not in a form this app writes.")
    _check_history_length(n, max_rows)
    cast = {"bool": bool, "int": int, "float": float}
    for k in columns:
        col, mask = columns[k], present.get(k)
        if not (isinstance(k, str) and kinds.get(k) in cast and _is_vector(col, n) and _is_vector(mask, n)
                and mask.dtype == torch.uint8 and col.is_floating_point() and bool((mask <= 2).all())
                and (kinds[k] == "float" or bool(torch.isfinite(col[mask == 1]).all()))):
            raise CheckpointError(f"the checkpoint's history column {str(k)[:40]!r} is malformed.")
    rows: list[dict] = [{} for _ in range(n)]
    for k, col in columns.items():
        to, values, mask = cast[kinds[k]], col.tolist(), present[k].tolist()
        for row, v, has in zip(rows, values, mask):
            if has:
                row[k] = to(v) if has == 1 else None
    return rows


def _is_vector(t, n: int) -> bool:
    return isinstance(t, torch.Tensor) and tuple(t.shape) == (n,)


def _check_history_length(n: int, max_rows: int) -> None:
    if n > max_rows:
        raise CheckpointError(f"this checkpoint's history has {n:,} steps, above this server's limit of "
                              f"{max_rows:,} (PLAYGROUND_MAX_HISTORY_ROWS).")


def _history(raw, max_rows: int) -> list[dict]:
    """The history rows of a checkpoint: columns (this format) or a list of row dicts (older)."""
    if raw is None:
        return []
    if isinstance(raw, dict):
        return unpack_history(raw, max_rows)
    if not isinstance(raw, list):
        raise CheckpointError("the checkpoint's history is not a list of steps.")
    _check_history_length(len(raw), max_rows)
    for row in raw:
        if not (isinstance(row, dict) and all(isinstance(k, str) and (v is None or isinstance(v, (int, float)))
                                              for k, v in row.items())):
            raise CheckpointError("the checkpoint's history holds something other than numbers per step.")
    return raw


# ---- reading an upload ------------------------------------------------------------------------
def check_archive(data: bytes, limits: server_limits.Limits) -> None:
    """Refuse an archive whose entries would unpack to more than this server allows (zip bomb):
    torch.load allocates each entry's declared uncompressed size before anything is checked."""
    try:
        infos = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise CheckpointError("this file is not a PyTorch checkpoint (torch.save writes a zip archive).") from None
    if len(infos) > MAX_ENTRIES:
        raise CheckpointError(f"this file holds {len(infos):,} parts; a checkpoint has a few dozen "
                              f"(at most {MAX_ENTRIES:,} are read).")
    weights_limit = limits.max_run_memory_mb * MB // 4
    for info in infos:
        if info.filename.endswith("data.pkl") and info.file_size > PICKLE_LIMIT:
            raise CheckpointError(
                f"this checkpoint's settings, vocabulary and history would unpack to {info.file_size / MB:,.1f} MB, "
                f"above the {PICKLE_LIMIT / MB:g} MB this server reads; nothing was loaded.")
    total = sum(i.file_size for i in infos if not i.filename.endswith("data.pkl"))
    if total > weights_limit:
        raise CheckpointError(
            f"this checkpoint's weights would unpack to {total / MB:,.1f} MB, above this server's limit of "
            f"{weights_limit / MB:,.0f} MB (a quarter of its {limits.max_run_memory_mb:,} MB per-run memory "
            "limit is for weights); nothing was loaded.")


def _torch_load(data: bytes) -> dict:
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        blocked = [line.strip() for line in str(e).splitlines() if "GLOBAL" in line]
        raise CheckpointError(
            "this file is not a plain checkpoint: it asks to load Python objects, which could run "
            "code, so it was refused (torch.load with weights_only=True)."
            + (f" {blocked[0][:200]}" if blocked else "")) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, MemoryError) as e:
        raise CheckpointError(f"this file is not a PyTorch checkpoint ({type(e).__name__}).") from None


def _configs(obj: dict, limits: server_limits.Limits) -> tuple[ModelConfig, TrainConfig]:
    """The configs through their validation, then the server's limits."""
    for key, what in (("model_config", "model settings"), ("train_config", "training settings")):
        if not isinstance(obj.get(key, {}), dict) or (key == "model_config" and key not in obj):
            raise CheckpointError(f"this checkpoint has no {what} ({key}).")
    try:
        mc = ModelConfig.from_dict(obj["model_config"])
        tc = TrainConfig.from_dict(obj.get("train_config", {}))
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"the checkpoint's settings are invalid: {str(e)[:300]}") from None
    if mc.vocab_size < 1:
        raise CheckpointError("the checkpoint's model settings have no vocab_size.")
    if why := server_limits.check(mc, tc, mc.vocab_size, 0, limits):
        raise CheckpointError("this checkpoint's " + "; ".join(why) + ".")
    return mc, tc


def _vocab(raw, vocab_size: int) -> Vocab:
    """The vocabulary, after its size is checked against the (limit-checked) model's."""
    tokens = raw.get("idx_to_token") if isinstance(raw, dict) else None
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        raise CheckpointError("this checkpoint has no vocabulary (a list of tokens).")
    if len(tokens) != vocab_size:
        raise CheckpointError(f"the checkpoint's vocab has {len(tokens):,} tokens but its model "
                              f"expects {vocab_size:,}.")
    try:
        return Vocab.from_dict(raw)
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"the checkpoint's vocabulary is invalid: {str(e)[:200]}") from None


def expected_shapes(mc: ModelConfig) -> dict[str, tuple]:
    """Every state_dict entry's shape for this config: the model built on the meta device
    (shapes only, no memory)."""
    with torch.device("meta"):
        return {k: tuple(v.shape) for k, v in CharModel(mc).state_dict().items()}


def _check_weights(state_dict, mc: ModelConfig) -> None:
    """Each tensor is a float tensor of the shape the config implies; none missing, none extra."""
    if not isinstance(state_dict, dict):
        raise CheckpointError("this checkpoint has no weights (state_dict).")
    want = expected_shapes(mc)
    missing, extra = [k for k in want if k not in state_dict], [str(k)[:40] for k in state_dict if k not in want]
    if missing or extra:
        raise CheckpointError("the checkpoint's weights do not match its model settings: "
                              + "; ".join(filter(None, [missing and "missing " + ", ".join(missing[:5]),
                                                        extra and "unexpected " + ", ".join(extra[:5])])) + ".")
    for name, shape in want.items():
        t = state_dict[name]
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            raise CheckpointError(f"the checkpoint's {name} is not a tensor of numbers.")
        if tuple(t.shape) != shape:
            raise CheckpointError(f"the checkpoint's {name} has shape {tuple(t.shape)}, but its settings "
                                  f"({mc.cell}, hidden_size {mc.hidden_size}, |V| {mc.vocab_size}) need {shape}.")


def read_checkpoint(data: bytes, limits: server_limits.Limits | None = None) -> dict:
    """The checkpoint's dict, checked (module docstring) before anything it describes is built:
    {"model_config", "train_config", "vocab", "state_dict", "history" (rows)}."""
    limits = limits or server_limits.LIMITS
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise CheckpointError("this file is not a PyTorch checkpoint (torch.save writes a zip archive).")
    check_archive(data, limits)
    obj = _torch_load(data)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(f"this is a PyTorch file but not an RNN Playground checkpoint "
                              f"(expected format {FORMAT!r}).")
    obj["model_config"], obj["train_config"] = _configs(obj, limits)
    obj["vocab"] = _vocab(obj.get("vocab"), obj["model_config"].vocab_size)
    obj["vocab"].tokenizer = obj["train_config"].tokenizer  # the config says (older vocabs lack it)
    obj["history"] = _history(obj.get("history"), limits.max_history_rows)
    _check_weights(obj.get("state_dict"), obj["model_config"])
    return obj


def load_checkpoint(data: bytes, limits: server_limits.Limits | None = None) -> tuple[CharModel, Vocab, ModelConfig]:
    obj = read_checkpoint(data, limits)
    model = CharModel(obj["model_config"])
    try:
        model.load_state_dict(obj["state_dict"])
    except (RuntimeError, TypeError, AttributeError) as e:
        raise CheckpointError("the checkpoint's weights do not match its model settings: "
                              f"{str(e).splitlines()[0]}") from None
    model.eval()
    return model, obj["vocab"], obj["model_config"]
