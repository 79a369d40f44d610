"""Comparing runs: a summary table and overlaid curves. Pure: snapshots in, pandas/plotly out."""
from __future__ import annotations

import math

import numpy as np
import torch
import pandas as pd
import plotly.graph_objects as go

from .charts import smooth, thin
from .config import ModelConfig, TrainConfig
from .runner import Snapshot

CELLS_FOR_COMPARISON = ("RNN_TANH", "GRU", "LSTM")
COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


def summary_row(snap: Snapshot) -> dict:
    """One line per run: what it is and how it did. Perplexities are exp(mean loss)."""
    h, mc = snap.history, snap.model_config
    val = h["val_loss"].dropna()
    tail = h["loss"].tail(20)
    return {
        "run": snap.label, "status": snap.status, "cell": mc.cell, "hidden_size": mc.hidden_size,
        "num_layers": mc.num_layers, "parameters": snap.parameters, "steps": snap.step,
        "train perplexity (last 20)": math.exp(tail.mean()) if len(tail) else float("nan"),
        "val perplexity": math.exp(val.iloc[-1]) if len(val) else float("nan"),
        "time (s)": snap.running_seconds,
        "tokens/s": float(h["tokens"].sum() / snap.running_seconds) if snap.running_seconds else 0.0,
    }


def summary_table(snapshots: list[Snapshot]) -> pd.DataFrame:
    return pd.DataFrame([summary_row(s) for s in snapshots])


def overlay_figure(snapshots: list[Snapshot], metric: str = "val", smoothing: float = 0.6,
                   log_y: bool = False) -> go.Figure:
    """Each run's training curve (smoothed loss; metric="perplexity" for exp) and its validation
    points, one colour per run."""
    traces = []
    for i, snap in enumerate(snapshots):
        color, h = COLORS[i % len(COLORS)], snap.history
        if h.empty:
            continue
        ppl = metric == "perplexity"
        shown = thin(h.assign(smoothed=smooth(h["loss"], smoothing)))
        y = np.exp(shown["smoothed"]) if ppl else shown["smoothed"]
        traces.append(dict(type="scatter", x=shown["step"].to_numpy(np.float32), y=np.asarray(y, np.float32),
                           mode="lines", name=f"{snap.label} train", line=dict(color=color, width=2),
                           legendgroup=snap.run_id))
        val = h.dropna(subset=["val_loss"])
        vy = val["val_perplexity"] if ppl else val["val_loss"]
        traces.append(dict(type="scatter", x=val["step"].to_numpy(np.float32), y=vy.to_numpy(np.float32),
                           mode="markers", name=f"{snap.label} val", marker=dict(color=color, size=6,
                           symbol="circle-open"), legendgroup=snap.run_id))
    layout = dict(height=420, margin=dict(l=10, r=10, t=40, b=10), uirevision="compare",
                  title="Perplexity" if metric == "perplexity" else "Loss (nats per token)",
                  xaxis=dict(title="step"), yaxis=dict(type="log" if log_y else "linear", tickformat=".2~g"),
                  legend=dict(orientation="h", yanchor="top", y=-0.15))
    return go.Figure(data=traces, layout=layout)


def comparison_configs(hidden_size: int) -> list[ModelConfig]:
    """The same network size with each cell: what recurrence type alone changes."""
    return [ModelConfig(cell=c, hidden_size=hidden_size, embedding_dim=16) for c in CELLS_FOR_COMPARISON]


COMPARISON_TRAIN = dict(seq_len=64, batch_size=32, lr=3e-3, clip=1.0, sampler="consecutive")


def comparison_train_config(seed: int) -> TrainConfig:
    return TrainConfig(**COMPARISON_TRAIN, seed=seed)


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
