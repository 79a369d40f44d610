"""Comparing runs: a summary table and overlaid curves. Pure: snapshots in, pandas/plotly out."""
from __future__ import annotations

import math

import torch
import pandas as pd

from .cells import LABELS
from .front import Snapshot


def summary_row(snap: Snapshot) -> dict:
    """One line per run: what it is and how it did. Perplexities are exp(mean loss)."""
    h, mc = snap.history, snap.model_config
    val = h["val_loss"].dropna()
    tail = h["loss"].tail(20)
    return {
        "run": snap.label, "status": str(snap.status), "cell": LABELS.get(mc.cell, mc.cell), "hidden_size": mc.hidden_size,
        "num_layers": mc.num_layers, "parameters": snap.parameters, "steps": snap.step,
        "train perplexity (last 20)": math.exp(tail.mean()) if len(tail) else float("nan"),
        "val perplexity": math.exp(val.iloc[-1]) if len(val) else float("nan"),
        "time (s)": snap.running_seconds,
        "tokens/s": float(h["tokens"].sum() / snap.running_seconds) if snap.running_seconds else 0.0,
    }


def summary_table(snapshots: list[Snapshot]) -> pd.DataFrame:
    return pd.DataFrame([summary_row(s) for s in snapshots])


@torch.no_grad()
def recall_accuracy(model, vocab, text: str, max_lines: int = 400) -> float:
    """Long-range copy corpus: share of lines "k:<digits>=k" where the model's most likely
    token after "=" is k — the character it had to carry across the gap. Chance is 1/8."""
    lines = [ln for ln in text.split("\n") if len(ln) > 3 and ln[1] == ":" and ln[-2] == "="][:max_lines]
    if not lines:
        return float("nan")
    ids = torch.tensor([vocab[list(ln[:-1])] for ln in lines])          # (N, L-1): up to "="
    logits, _ = model(ids)                                                 # (N, L-1, V)
    guess = logits[:, -1].argmax(-1)                                       # (N,)
    target = torch.tensor([vocab[ln[-1]] for ln in lines])                 # (N,)
    return float((guess == target).float().mean())


RECALL_COLUMN = "recall accuracy (chance 0.125)"


def long_range_recall(run) -> float:
    """recall_accuracy on a long-range-copy run's held-out text (NaN for other corpora)."""
    if getattr(run, "corpus_key", "") != "long_range":
        return float("nan")
    model, vocab, _ = run.copy_model()
    return recall_accuracy(model, vocab, run.val_text(20_000))
