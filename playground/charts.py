"""Plotly figures for training curves. Pure: DataFrames in, figures out, no streamlit.

Numbers are sent as float32 numpy arrays (compact JSON), and `uirevision` keeps the user's
zoom across live refreshes.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

TRAIN, VAL, BASE = "#1f77b4", "#ff7f0e", "#7f7f7f"


def smooth(values: pd.Series, smoothing: float) -> pd.Series:
    """Exponential moving average, as TensorBoard's slider: 0 = raw, 0.99 = very smooth."""
    if smoothing <= 0 or values.empty:
        return values
    return values.ewm(alpha=1.0 - min(smoothing, 0.999), adjust=True).mean()


def _f32(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


def _layout(fig: go.Figure, title: str, y_title: str, log_y: bool, revision: str) -> go.Figure:
    fig.update_layout(title=title, height=330, margin=dict(l=10, r=10, t=40, b=10),
                      xaxis_title="step", yaxis_title=y_title, uirevision=revision,
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1))
    fig.update_yaxes(type="log" if log_y else "linear", tickformat=".2~g")
    return fig


def curve_figure(history: pd.DataFrame, metric: str, uniform_perplexity: float,
                 unigram_perplexity: float, log_y: bool = False, smoothing: float = 0.0,
                 revision: str = "run") -> go.Figure:
    """Train (raw, faint + smoothed) and validation curves of "loss" or "perplexity", with
    baselines: uniform guessing (|V|) and the unigram model (letter frequencies only)."""
    ppl = metric == "perplexity"
    train = history["perplexity" if ppl else "loss"]
    val = history.dropna(subset=["val_loss"])
    fig = go.Figure()
    steps = _f32(history["step"])
    if smoothing > 0:
        fig.add_scatter(x=steps, y=_f32(train), name="train (raw)", mode="lines",
                        line=dict(color=TRAIN, width=1), opacity=0.25, showlegend=False)
    fig.add_scatter(x=steps, y=_f32(smooth(train, smoothing)), name="train", mode="lines",
                    line=dict(color=TRAIN, width=2))
    fig.add_scatter(x=_f32(val["step"]), y=_f32(val["val_perplexity" if ppl else "val_loss"]),
                    name="validation", mode="lines+markers", line=dict(color=VAL, width=2))
    for value, name in ((uniform_perplexity, f"uniform guess (|V| = {uniform_perplexity:.0f})"),
                        (unigram_perplexity, f"letter frequencies only ({unigram_perplexity:.1f})")):
        y = value if ppl else math.log(value)
        fig.add_hline(y=y, line=dict(color=BASE, dash="dot", width=1),
                      annotation_text=name, annotation_position="top left",
                      annotation_font=dict(size=11, color=BASE))
    title = "Perplexity = exp(loss)" if ppl else "Loss (cross-entropy, nats per token)"
    return _layout(fig, title, "perplexity" if ppl else "loss", log_y, revision)


def grad_norm_figure(history: pd.DataFrame, clip: float, revision: str = "run") -> go.Figure:
    """Global gradient norm before clipping; the clip threshold as a line; clipped steps marked."""
    fig = go.Figure()
    fig.add_scatter(x=_f32(history["step"]), y=_f32(history["grad_norm"]), mode="lines",
                    name="norm before clipping", line=dict(color="#2ca02c", width=1.5))
    clipped = history[history["clipped"]]
    if len(clipped):
        fig.add_scatter(x=_f32(clipped["step"]), y=_f32(clipped["grad_norm"]), mode="markers",
                        name="clipped steps", marker=dict(color="#d62728", size=4))
    if clip > 0:
        fig.add_hline(y=clip, line=dict(color="#d62728", dash="dash", width=1),
                      annotation_text=f"clip = {clip:g}", annotation_position="top left")
    return _layout(fig, "Gradient norm (global L2, before clipping)", "gradient norm", True, revision)
