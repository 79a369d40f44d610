"""Plotly figures for training curves. Pure: DataFrames in, figures out, no streamlit.

Numbers are sent as float32 numpy arrays (compact JSON), and `uirevision` keeps the user's
zoom across live refreshes.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .style import hline

TRAIN, VAL, BASE = "#1f77b4", "#ff7f0e", "#7f7f7f"


def smooth(values: pd.Series, smoothing: float) -> pd.Series:
    """Exponential moving average, as TensorBoard's slider: 0 = raw, 0.99 = very smooth."""
    if smoothing <= 0 or values.empty:
        return values
    return values.ewm(alpha=1.0 - min(smoothing, 0.999), adjust=True).mean()


MAX_POINTS = 1500  # longer histories are thinned for drawing (after smoothing)


def thin(df: pd.DataFrame, max_points: int = MAX_POINTS) -> pd.DataFrame:
    """Every k-th row (and the last) so at most ~max_points are sent to the browser."""
    if len(df) <= max_points:
        return df
    k = -(-len(df) // max_points)
    return pd.concat([df.iloc[::k], df.iloc[[-1]]])


def _f32(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


# Fixed margins, room for the axis titles, ticks (".2~g": at most ~6 characters) and the legend
# below: Plotly's automatic margins measure the text and draw a live chart twice at each redraw.
MARGIN = dict(l=64, r=12, t=40, b=96, autoexpand=False)


def log_dtick(values) -> str | int | None:
    """Tick spacing for a log axis over `values`: Plotly's own labels every digit over a decade
    or two, and under 1 they overlap (0.9, 0.8, 0.7 …); so 1, 2 and 5 (Plotly's "D2") from one
    decade, powers of ten from three. None: Plotly's choice (under a decade)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size == 0 or (decades := math.log10(v.max() / v.min())) < 1:
        return None
    return "D2" if decades < 3 else 1


def _figure(traces: list[dict], lines: list[tuple[dict, dict]], title: str, y_title: str,
            log_y: bool, revision: str) -> go.Figure:
    """Build the figure in one constructor call: plotly validates once (about 20x faster than
    add_trace/add_hline/update_layout one by one, which matters at one refresh a second)."""
    yaxis = dict(title=y_title, type="log" if log_y else "linear", tickformat=".2~g", nticks=6, automargin=False)
    if log_y and (dtick := log_dtick(np.concatenate([np.ravel(t["y"]) for t in traces]
                                                     + [[shape["y0"] for shape, _ in lines]]))):
        yaxis["dtick"] = dtick
    layout = dict(title=title, height=360, margin=MARGIN, uirevision=revision,
                  xaxis=dict(title="step", automargin=False), yaxis=yaxis,
                  legend=dict(orientation="h", yanchor="top", y=-0.22, xanchor="left", x=0),
                  shapes=[shape for shape, _ in lines], annotations=[note for _, note in lines])
    return go.Figure(data=traces, layout=layout)


def curve_figure(history: pd.DataFrame, metric: str, uniform_perplexity: float,
                 unigram_perplexity: float, log_y: bool = False, smoothing: float = 0.0,
                 revision: str = "run") -> go.Figure:
    """Train (raw, faint + smoothed) and validation curves of "loss" or "perplexity", with
    baselines: uniform guessing (|V|) and the unigram model (letter frequencies only)."""
    ppl = metric == "perplexity"
    column = "perplexity" if ppl else "loss"
    val = history.dropna(subset=["val_loss"])
    shown = thin(history.assign(smoothed=smooth(history[column], smoothing)))
    steps = _f32(shown["step"])
    traces = []
    if smoothing > 0:
        traces.append(dict(type="scatter", x=steps, y=_f32(shown[column]), name="train (raw)", mode="lines",
                           line=dict(color=TRAIN, width=1), opacity=0.25, showlegend=False))
    traces.append(dict(type="scatter", x=steps, y=_f32(shown["smoothed"]), name="train",
                       mode="lines", line=dict(color=TRAIN, width=2)))
    traces.append(dict(type="scatter", x=_f32(val["step"]), y=_f32(val["val_perplexity" if ppl else "val_loss"]),
                       name="validation", mode="lines+markers", line=dict(color=VAL, width=2)))
    traces += anneal_markers(history, "val_perplexity" if ppl else "val_loss")
    lines = [hline(y, name, log_y, BASE, "dot") for y, name in baselines(ppl, uniform_perplexity, unigram_perplexity)]
    title = "Perplexity = exp(loss)" if ppl else "Loss (cross-entropy, nats per token)"
    return _figure(traces, lines, title, "perplexity" if ppl else "loss", log_y, revision)


def baselines(ppl: bool, uniform_perplexity: float, unigram_perplexity: float) -> list[tuple[float, str]]:
    """(y, label) of the two baseline lines, in the chart's own units: perplexity, or loss = ln(perplexity)."""
    v = f"|V| = {uniform_perplexity:.0f}"
    if ppl:
        return [(uniform_perplexity, f"uniform guess: perplexity {uniform_perplexity:.0f} ({v})"),
                (unigram_perplexity, f"letter frequencies only: perplexity {unigram_perplexity:.2f}")]
    return [(math.log(uniform_perplexity), f"uniform guess: loss ln {uniform_perplexity:.0f} = "
                                           f"{math.log(uniform_perplexity):.2f} ({v})"),
            (math.log(unigram_perplexity), f"letter frequencies only: loss {math.log(unigram_perplexity):.2f}")]


def anneal_markers(history: pd.DataFrame, column: str) -> list[dict]:
    """A marker on the validation curve where lr was divided (validation loss did not beat
    its best): the lr used after it is the next row's lr."""
    if "annealed" not in history or not history["annealed"].any():
        return []
    rows = history.assign(lr_after=history["lr"].shift(-1))[history["annealed"]]
    text = [f"step {s:,}: lr {a:g} → {b:g}" if b == b else f"step {s:,}: lr {a:g} divided from the next step"
            for s, a, b in zip(rows["step"], rows["lr"], rows["lr_after"])]
    return [dict(type="scatter", x=_f32(rows["step"]), y=_f32(rows[column]), name="lr annealed",
                 mode="markers", marker=dict(color="#d62728", size=11, symbol="triangle-down"),
                 text=text, hovertemplate="%{text}<extra></extra>")]


def grad_norm_figure(history: pd.DataFrame, clip: float, revision: str = "run") -> go.Figure:
    """Global gradient norm before clipping; the clip threshold as a line; clipped steps marked."""
    shown = thin(history)
    traces = [dict(type="scatter", x=_f32(shown["step"]), y=_f32(shown["grad_norm"]), mode="lines",
                   name="norm before clipping", line=dict(color="#2ca02c", width=1.5))]
    clipped = history[history["clipped"]]
    if len(clipped):
        traces.append(dict(type="scatter", x=_f32(clipped["step"]), y=_f32(clipped["grad_norm"]),
                           mode="markers", name="clipped steps", marker=dict(color="#d62728", size=4)))
    log_y = True                                   # norms span orders of magnitude
    lines = [hline(clip, f"clip = {clip:g}", log_y, "#d62728")] if clip > 0 else []
    return _figure(traces, lines, "Gradient norm (global L2, before clipping)", "gradient norm", log_y, revision)
