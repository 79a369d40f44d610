"""One vocabulary of colours and line styles for every figure (pure, no streamlit).

    DIVERGING      signed values (weights, hidden states): red = positive, blue = negative, white 0,
                   on every page (Hidden states' heatmap and coloured text, Shapes' weight blocks)
    CELL_COLORS    one colour per cell type; CELL_DASHES and CELL_SYMBOLS tell lines apart where
                   they overlap (e.g. GRU and LSTM both at recall 1.0) and for colour-blind readers
    cell_name()    a cell type's human label ("RNN (tanh)"), from playground.cells
    hline()        a labelled horizontal line (baselines, thresholds), its label at it on a log axis too
"""
from __future__ import annotations

import math

from ..cells import LABELS

DIVERGING = "RdBu_r"          # plotly: low = blue, high = red
POSITIVE, NEGATIVE = "#b2182b", "#2166ac"   # the ends of RdBu_r, for HTML colouring
CELL_COLORS = {"RNN_TANH": "#d62728", "RNN_RELU": "#ff7f0e", "LSTM": "#1f77b4", "GRU": "#2ca02c"}
CELL_DASHES = {"RNN_TANH": "solid", "RNN_RELU": "dashdot", "LSTM": "dash", "GRU": "dot"}
CELL_SYMBOLS = {"RNN_TANH": "circle", "RNN_RELU": "diamond", "LSTM": "square", "GRU": "triangle-up"}
OTHER_COLOR = "#7f7f7f"


def cell_name(cell: str) -> str:
    return LABELS.get(cell, cell)


def hline(y: float, text: str, log_y: bool = False, color: str = OTHER_COLOR, dash: str = "dash",
          side: str = "left") -> tuple[dict, dict]:
    """A horizontal line across the plot at `y` and its label just above it, at the plot's `side`,
    as (layout shape, annotation). On a log axis Plotly places a shape at y but an annotation at
    10**y: the label's y is log10(y) there (a label of y <= 0 cannot sit on a log axis)."""
    shape = dict(type="line", xref="paper", x0=0, x1=1, y0=y, y1=y, line=dict(color=color, dash=dash, width=1))
    note = dict(text=text, xref="paper", x=0 if side == "left" else 1, xanchor=side, yanchor="bottom",
                y=math.log10(y) if log_y and y > 0 else y, showarrow=False, font=dict(size=11, color=color))
    return shape, note
