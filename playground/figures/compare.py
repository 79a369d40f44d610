"""Compare runs: each run's curves overlaid. Pure: snapshots in, a plotly figure out."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ..front import Snapshot
from .curves import smooth, thin

COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


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
