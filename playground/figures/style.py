"""One vocabulary of colours and line styles for every figure (pure, no streamlit).

    DIVERGING      signed values (weights, hidden states): red = positive, blue = negative, white 0,
                   on every page (Hidden states' heatmap and coloured text, Shapes' weight blocks)
    CELL_COLORS    one colour per cell type; CELL_DASHES and CELL_SYMBOLS tell lines apart where
                   they overlap (e.g. GRU and LSTM both at recall 1.0) and for colour-blind readers
    cell_name()    a cell type's human label ("RNN (tanh)"), from playground.cells
"""
from __future__ import annotations

from ..cells import LABELS

DIVERGING = "RdBu_r"          # plotly: low = blue, high = red
POSITIVE, NEGATIVE = "#b2182b", "#2166ac"   # the ends of RdBu_r, for HTML colouring
CELL_COLORS = {"RNN_TANH": "#d62728", "RNN_RELU": "#ff7f0e", "LSTM": "#1f77b4", "GRU": "#2ca02c"}
CELL_DASHES = {"RNN_TANH": "solid", "RNN_RELU": "dashdot", "LSTM": "dash", "GRU": "dot"}
CELL_SYMBOLS = {"RNN_TANH": "circle", "RNN_RELU": "diamond", "LSTM": "square", "GRU": "triangle-up"}
OTHER_COLOR = "#7f7f7f"


def cell_name(cell: str) -> str:
    return LABELS.get(cell, cell)
