"""The Room's figures: the whole room's validation curves, and perplexity by cell type.

Pure: RoomRuns in (playground/room.py), plotly figures out. One trace per cell type, runs
separated by None gaps: 300 runs draw as 4 traces, not 300.
"""
from __future__ import annotations

import html
import math
import statistics

import numpy as np
import plotly.graph_objects as go

from playground.cells import LABELS

CELL_COLORS = {"RNN_TANH": "#d62728", "RNN_RELU": "#ff7f0e", "LSTM": "#1f77b4", "GRU": "#2ca02c"}
OTHER_COLOR = "#7f7f7f"


def _color(cell: str) -> str:
    return CELL_COLORS.get(cell, OTHER_COLOR)


def curve_arrays(runs: list) -> tuple[np.ndarray, np.ndarray]:
    """x (step) and y (val loss) of all runs' curves joined, NaN between runs (a gap in plotly)."""
    xs, ys = [], []
    for r in runs:
        if not r.curve:
            continue
        steps, losses = zip(*r.curve)
        xs.extend((*steps, math.nan))
        ys.extend((*losses, math.nan))
    return np.asarray(xs, np.float32), np.asarray(ys, np.float32)


def _baselines(runs: list) -> list[tuple[float, str, str]]:
    """(loss, text, dash) of the uniform and unigram baselines: the runs' median (same corpus)."""
    out = []
    uniform = [r.uniform_perplexity for r in runs if r.uniform_perplexity > 0]
    unigram = [r.unigram_perplexity for r in runs if r.unigram_perplexity > 0]
    if uniform:
        u = statistics.median(uniform)
        out.append((math.log(u), f"uniform guessing (|V| = {u:.0f})", "dot"))
    if unigram:
        out.append((math.log(statistics.median(unigram)), "letter frequencies only (unigram)", "dash"))
    return out


def overlay_figure(runs: list, title: str = "Every run's validation loss") -> go.Figure:
    """All runs' validation curves (loss in nats per token), one colour per cell type, with the
    uniform and unigram baselines. Give it runs of one corpus: baselines differ between corpora."""
    traces = []
    for cell in [*LABELS, *sorted({r.cell for r in runs} - set(LABELS))]:
        mine = [r for r in runs if r.cell == cell and r.curve]
        if not mine:
            continue
        x, y = curve_arrays(mine)
        traces.append(dict(type="scattergl", x=x, y=y, mode="lines", connectgaps=False,
                           name=f"{LABELS.get(cell, cell)} ({len(mine)})",
                           line=dict(color=_color(cell), width=1.5), opacity=0.7))
    shapes, notes = [], []
    for y, text, dash in _baselines(runs):
        shapes.append(dict(type="line", xref="paper", x0=0, x1=1, y0=y, y1=y,
                           line=dict(color="#555", width=1, dash=dash)))
        notes.append(dict(xref="paper", x=1, y=y, text=text, showarrow=False, xanchor="right",
                          yanchor="bottom", font=dict(size=11, color="#555")))
    layout = dict(title=title, height=460, margin=dict(l=10, r=10, t=50, b=10), uirevision="room-overlay",
                  xaxis=dict(title="step"), yaxis=dict(title="validation loss (nats per token)"),
                  shapes=shapes, annotations=notes, legend=dict(orientation="h", yanchor="top", y=-0.12))
    return go.Figure(data=traces, layout=layout)


def by_cell_figure(runs: list, title: str = "Validation perplexity by cell type") -> go.Figure:
    """A box per cell type with every run as a point (lower is better)."""
    traces = []
    for cell, label in LABELS.items():
        mine = [r for r in runs if r.cell == cell and math.isfinite(r.val_perplexity)]
        if not mine:
            continue
        traces.append(dict(type="box", y=np.asarray([r.val_perplexity for r in mine], np.float32),
                           name=f"{label} (n = {len(mine)})", boxpoints="all", jitter=0.4, pointpos=0,
                           text=[html.escape(r.learner) for r in mine],   # plotly reads tags in hover text hovertemplate="%{text}: %{y:.3f}<extra></extra>",
                           marker=dict(color=_color(cell), size=7), line=dict(color=_color(cell))))
    layout = dict(title=title, height=420, margin=dict(l=10, r=10, t=50, b=10), showlegend=False,
                  uirevision="room-by-cell", yaxis=dict(title="validation perplexity"))
    return go.Figure(data=traces, layout=layout)
