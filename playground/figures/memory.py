"""Plotly figures for the experiments (pure: DataFrames in, figures out; no streamlit)."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from .style import CELL_COLORS, CELL_DASHES, CELL_SYMBOLS, cell_name

CELL_NAMES = {c: cell_name(c) for c in CELL_COLORS}
CHANCE = 1 / 8


def _legend_below(fig: go.Figure, height: int) -> go.Figure:
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10), uirevision="keep",
                      legend=dict(orientation="h", yanchor="top", y=-0.2, x=0))
    return fig


def recall_figure(results: pd.DataFrame, height: int = 380) -> go.Figure:
    """Held-out recall against gap, one line per cell: the mean over seeds, each seed a dot."""
    fig = go.Figure()
    gaps = sorted(results["gap"].unique())
    for cell, rows in results.groupby("cell", sort=False):
        color, name = CELL_COLORS.get(cell, "#7f7f7f"), CELL_NAMES.get(cell, cell)
        mean = rows.groupby("gap")["recall"].mean()
        fig.add_trace(go.Scatter(x=mean.index, y=mean.values, mode="lines+markers", name=name,
                                 legendgroup=cell, line=dict(color=color, width=2.5, dash=CELL_DASHES.get(cell, "solid")),
                                 marker=dict(color=color, symbol=CELL_SYMBOLS.get(cell, "circle"), size=9)))
        fig.add_trace(go.Scatter(x=rows["gap"], y=rows["recall"], mode="markers", showlegend=False,
                                 legendgroup=cell, marker=dict(color=color, size=6, opacity=0.45),
                                 customdata=rows[["seed", "steps"]],
                                 hovertemplate=f"{name}<br>gap %{{x}} · seed %{{customdata[0]}}<br>"
                                               "recall %{y:.3f} after %{customdata[1]} steps<extra></extra>"))
    fig.add_hline(y=CHANCE, line_dash="dash", line_color="gray", annotation_text="chance (1/8)",
                  annotation_position="bottom right")
    fig.update_xaxes(type="log", tickvals=gaps, ticktext=[str(g) for g in gaps],
                     title="gap: random digits between the key and '='")
    fig.update_yaxes(range=[0, 1.05], title="recall on held-out lines")
    return _legend_below(fig, height)


def reach_figure(reach: pd.DataFrame, gap: int, height: int = 380) -> go.Figure:
    """The share of the recall gradient reaching each input position back from '=' (its norm over
    the norm at '='), log scale, at one gap: solid after training, dotted at initialisation,
    mean over seeds."""
    fig = go.Figure()
    rows = reach[reach["gap"] == gap]
    for (cell, when), part in rows.groupby(["cell", "when"], sort=False):
        part = part.sort_values(["seed", "steps_back"])
        share = part.groupby("seed")["grad_norm"].transform(lambda g: g / g.iloc[0])  # over '='
        curve = share.groupby(part["steps_back"]).mean()
        name = f"{CELL_NAMES.get(cell, cell)} · {when}"
        fig.add_trace(go.Scatter(x=curve.index, y=curve.values, mode="lines", name=name,
                                 line=dict(color=CELL_COLORS.get(cell, "#7f7f7f"), width=2,
                                           dash="dot" if when == "at init" else "solid")))
    fig.add_vline(x=gap + 1, line_dash="dash", line_color="gray", annotation_text="key")
    fig.update_xaxes(title="steps back from '=' (the key is the last point)")
    fig.update_yaxes(type="log", exponentformat="power", title="‖d loss / d input‖ over its value at '='")
    return _legend_below(fig, height)
