"""Plotly figure builders for the labs (no streamlit)."""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import plotly.graph_objects as go

from . import style


def _layout(fig: go.Figure, x_title: str, y_title: str, height: int = 320,
            log_y: bool = False) -> go.Figure:
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10),
                      xaxis_title=x_title, yaxis_title=y_title,
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0))
    if log_y:
        fig.update_yaxes(type="log")
    return fig


def _line(fig: go.Figure, line: tuple[float, str] | None, log_y: bool, side: str) -> None:
    """Draw `line` = (y, label), if given (style.hline: its label at it on a log axis too)."""
    if line:
        shape, note = style.hline(line[0], line[1], log_y, side=side)
        fig.add_shape(**shape)
        fig.add_annotation(**note)


def _finite(values: Sequence[float]) -> list[float | None]:
    """nan/inf become gaps (plotly cannot draw them)."""
    return [v if math.isfinite(v) else None for v in values]


def curves_figure(curves: Mapping[str, Sequence[float]], x_title: str, y_title: str,
                  dashed: Mapping[str, Sequence[float]] | None = None, log_y: bool = False,
                  hline: tuple[float, str] | None = None, height: int = 320) -> go.Figure:
    """One line per named curve (x = 1..n); optional dashed companions and a labelled line."""
    fig = go.Figure()
    for name, ys in curves.items():
        fig.add_trace(go.Scatter(x=list(range(1, len(ys) + 1)), y=_finite(ys), name=name,
                                 mode="lines"))
    for name, ys in (dashed or {}).items():
        fig.add_trace(go.Scatter(x=list(range(1, len(ys) + 1)), y=_finite(ys), name=name,
                                 mode="lines", line=dict(dash="dot")))
    _line(fig, hline, log_y, "right")
    return _layout(fig, x_title, y_title, height, log_y)


def xy_figure(x: Sequence[float], ys: Mapping[str, Sequence[float]], x_title: str,
              y_title: str, height: int = 300) -> go.Figure:
    fig = go.Figure()
    for name, y in ys.items():
        fig.add_trace(go.Scatter(x=list(x), y=list(y), name=name, mode="lines"))
    return _layout(fig, x_title, y_title, height)


def bar_figure(labels: Sequence[str], values: Sequence[float], colors: Sequence[str],
               y_title: str, height: int = 300, log_y: bool = False,
               hline: tuple[float, str] | None = None) -> go.Figure:
    """One bar per label; optionally a labelled line (e.g. uniform guessing)."""
    fig = go.Figure(go.Bar(x=list(labels), y=list(values), marker_color=list(colors)))
    _line(fig, hline, log_y, "left")
    return _layout(fig, "", y_title, height, log_y)


def grouped_bar_figure(labels: Sequence[str], groups: Mapping[str, Sequence[float]],
                       y_title: str, height: int = 320) -> go.Figure:
    """One bar per label and group, groups side by side (e.g. default vs identity init)."""
    fig = go.Figure([go.Bar(x=list(labels), y=_finite(list(ys)), name=name)
                     for name, ys in groups.items()])
    fig.update_layout(barmode="group")
    return _layout(fig, "", y_title, height)
