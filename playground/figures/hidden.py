"""Figures and HTML for the Hidden states page. Pure: numpy in, plotly figures / HTML out.

Heatmaps send their cells as float32 or uint8 numpy arrays (plotly encodes them as base64
typed arrays); never `.tolist()`, which turns a 256 x 1000 heatmap into ~3.5 MB of JSON text.
"""
from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..cells import GATE_TITLES, SIGMOID_GATES   # titles and sigmoid gates: the cell types declare them
from ..vocab import UNK
from .style import DIVERGING, hline

UNK_SHOWN = "⟨unk⟩"
SHOWN = {"\n": "↵", " ": "␣", "\t": "⇥", "\r": "␍"}
MAX_FLOAT32_CELLS = 64_000   # above this many cells, "auto" sends uint8 (1 byte a cell)
MAX_CHAR_TICKS = 160         # label every time step with its character up to this length


def show_token(tok: str) -> str:
    """A visible label for a token: space -> ␣, newline -> ↵, the unknown token <unk> -> ⟨unk⟩
    (named: a look-alike character such as ¿ read as text)."""
    if tok == UNK:
        return UNK_SHOWN
    return "".join(SHOWN.get(ch, ch) for ch in tok) or "∅"


def value_range(values: np.ndarray, quantity: str) -> tuple[float, float]:
    """Colour scale limits: [0, 1] for sigmoid gates, symmetric around 0 otherwise."""
    if quantity in SIGMOID_GATES:
        return 0.0, 1.0
    m = float(np.abs(values).max()) if values.size else 1.0
    m = max(m, 1e-6)
    return (-1.0, 1.0) if m <= 1.0 + 1e-6 else (-m, m)


def quantize_uint8(z: np.ndarray, zmin: float, zmax: float) -> np.ndarray:
    """Map [zmin, zmax] linearly to 0..255 (clipped)."""
    scaled = (z.astype(np.float32) - zmin) * (255.0 / (zmax - zmin))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def heatmap_figure(values: np.ndarray, tokens: list[str], order=None, quantity: str = "h",
                   title: str = "", encoding: str = "auto", selected_unit: int | None = None,
                   uirevision: str = "hidden") -> go.Figure:
    """Time x units heatmap of `values` (T, H); rows in `order` (unit ids), characters on the
    time axis. A column of dots left of the map selects a unit when clicked (customdata = unit).

    encoding: "float32" (exact hover values), "uint8" (4x smaller; hover shows the 0-255
    level) or "auto" (uint8 above MAX_FLOAT32_CELLS cells)."""
    T, H = values.shape
    order = np.arange(H) if order is None else np.asarray(order)
    zmin, zmax = value_range(values, quantity)
    z = np.ascontiguousarray(values[:, order].T, dtype=np.float32)  # (H, T): row r = unit order[r]
    if encoding == "auto":
        encoding = "uint8" if z.size > MAX_FLOAT32_CELLS else "float32"
    if encoding not in ("float32", "uint8"):
        raise ValueError(f"encoding must be 'float32', 'uint8' or 'auto', got {encoding!r}")
    rows = [f"unit {u}" for u in order]
    colorbar = dict(title=dict(text=quantity, side="right"), thickness=12)
    heat = dict(x=np.arange(T, dtype=np.int32), y=rows, colorscale=DIVERGING, colorbar=colorbar)
    if encoding == "uint8":
        ticks = np.linspace(zmin, zmax, 5)
        colorbar.update(tickvals=quantize_uint8(ticks, zmin, zmax).astype(int).tolist(),
                        ticktext=[f"{v:.2g}" for v in ticks])
        trace = go.Heatmap(z=quantize_uint8(z, zmin, zmax), zmin=0, zmax=255, **heat,
                           hovertemplate=f"t=%{{x}}<br>%{{y}}<br>level %{{z}}/255 of [{zmin:.2g}, {zmax:.2g}]<extra></extra>")
    else:
        trace = go.Heatmap(z=z, zmin=zmin, zmax=zmax, **heat,
                           hovertemplate=f"t=%{{x}}<br>%{{y}}<br>{quantity}=%{{z:.3f}}<extra></extra>")
    fig = go.Figure(trace)
    picked = np.asarray(order) == selected_unit
    fig.add_trace(go.Scatter(  # the clickable unit column
        x=np.full(H, -max(2, T // 60), dtype=np.int32), y=rows, mode="markers", customdata=order,
        marker=dict(size=np.where(picked, 12, 6).astype(np.int32), symbol="square",
                    color=np.where(picked, "#d62728", "#bbbbbb").tolist()),  # H short strings
        hovertemplate="%{y}: click to show it in the text<extra></extra>", showlegend=False))
    xaxis = dict(title="time step t (character)", showgrid=False)
    if T <= MAX_CHAR_TICKS:
        xaxis.update(tickmode="array", tickvals=list(range(T)), ticktext=[show_token(t) for t in tokens],
                     tickangle=0, tickfont=dict(size=10, family="monospace"))
    fig.update_layout(title=title, xaxis=xaxis, uirevision=uirevision, clickmode="event+select",
                      yaxis=dict(title="units (sorted)", autorange="reversed", showgrid=False,
                                 type="category", tickfont=dict(size=9)),
                      height=max(320, min(900, 140 + 12 * H)), margin=dict(l=60, r=20, t=50, b=50))
    return fig


def saturation_figure(rows: list[dict], low: float = 0.1, high: float = 0.9) -> go.Figure:
    """Karpathy et al. 2015 style: per gate, one dot per unit at (share of time below `low`,
    share of time above `high`); colour = layer. Bars on top would say the same per layer."""
    gates = list(dict.fromkeys(r["gate"] for r in rows))
    fig = make_subplots(rows=1, cols=max(1, len(gates)), shared_yaxes=True,
                        subplot_titles=[GATE_TITLES.get(g, g) for g in gates])
    layers = sorted({r["layer"] for r in rows})
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
    for r in rows:
        col = gates.index(r["gate"]) + 1
        name = f"layer {r['layer']}" + (" reverse" if r["direction"] else "")
        fig.add_trace(go.Scatter(
            x=r["unit_below"], y=r["unit_above"], mode="markers", name=name, legendgroup=name,
            showlegend=col == 1, marker=dict(size=6, opacity=0.7, color=palette[layers.index(r["layer"]) % 6],
                                             symbol="circle" if r["direction"] == 0 else "diamond"),
            customdata=np.arange(len(r["unit_below"]), dtype=np.int32),
            hovertemplate=f"{name}, unit %{{customdata}}<br>below {low}: %{{x:.0%}}<br>"
                          f"above {high}: %{{y:.0%}}<extra></extra>"), row=1, col=col)
        fig.add_trace(go.Scatter(x=[0, 1], y=[1, 0], mode="lines", showlegend=False, hoverinfo="skip",
                                 line=dict(color="#ccc", dash="dot", width=1)), row=1, col=col)
    fig.update_xaxes(range=[-0.03, 1.03], title_text=f"time < {low} (closed)", tickformat=".0%")
    fig.update_yaxes(range=[-0.03, 1.03], tickformat=".0%")
    fig.update_yaxes(title_text=f"time > {high} (open)", row=1, col=1)
    fig.update_layout(height=340, margin=dict(l=60, r=20, t=50, b=50), uirevision="saturation",
                      legend=dict(orientation="h", y=-0.28, x=0))
    return fig


def parity_figure(parity: np.ndarray, tolerance: float = 1e-5) -> go.Figure:
    """max |scratch - nn| per time step, one line per layer (log scale), with the tolerance."""
    fig = go.Figure()
    floor = 1e-10  # exact zeros would vanish on a log axis
    for layer, row in enumerate(parity):
        fig.add_trace(go.Scatter(y=np.maximum(row, floor).astype(np.float32), mode="lines",
                                 name=f"layer {layer}"))
    line, label = hline(tolerance, f"tolerance {tolerance:g}", log_y=True, color="#d62728", side="right")
    fig.update_layout(yaxis=dict(type="log", title="max |from-scratch − nn|"), shapes=[line], annotations=[label],
                      xaxis_title="time step t", height=260, margin=dict(l=60, r=20, t=30, b=40),
                      uirevision="parity")
    return fig


def _rgba(value: float, vmax: float) -> str:
    a = min(1.0, abs(value) / vmax) if vmax > 0 else 0.0
    return f"rgba(214,39,40,{a:.2f})" if value >= 0 else f"rgba(31,119,180,{a:.2f})"


def unit_text_html(tokens: list[str], values: np.ndarray, label: str = "") -> str:
    """The text with each character's background coloured by one unit's value (T,):
    red positive, blue negative, stronger = larger |value| (Karpathy's visualisations)."""
    vmax = float(np.abs(values).max()) if len(values) else 1.0
    spans = []
    for tok, v in zip(tokens, values):
        text = html.escape(tok).replace("\n", "↵<br>")
        spans.append(f'<span title="{float(v):+.3f}" style="background:{_rgba(float(v), vmax)}">{text}</span>')
    caption = f'<div style="font-size:0.8em;color:#666">{html.escape(label)}</div>' if label else ""
    return (f'{caption}<div style="font-family:monospace;white-space:pre-wrap;line-height:1.6;'
            f'font-size:15px">{"".join(spans)}</div>')


def surprise_strip_html(tokens, top_tokens, top_probs, loss, start: int = 0, length: int = 60) -> str:
    """Under each character t: its loss -log p(t) and the model's top-5 guesses made at t-1
    (the right one in bold green). The character's colour deepens with the loss."""
    cols = []
    for t in range(max(1, start), min(len(tokens), start + length)):
        guesses = []
        for tok, p in zip(top_tokens[t - 1], top_probs[t - 1]):
            style = "color:#2ca02c;font-weight:bold" if tok == tokens[t] else "color:#555"
            guesses.append(f'<div style="{style}">{html.escape(show_token(tok))} {p:.0%}</div>')
        heat = min(1.0, float(loss[t]) / 5.0)
        cols.append(
            f'<div style="display:inline-block;vertical-align:top;min-width:48px;margin:0 1px;'
            f'text-align:center;font-family:monospace;font-size:12px">'
            f'<div style="font-size:17px;background:rgba(214,39,40,{heat:.2f})">{html.escape(show_token(tokens[t]))}</div>'
            f'<div style="color:#888">{float(loss[t]):.2f}</div>{"".join(guesses)}</div>')
    return f'<div style="overflow-x:auto;white-space:nowrap;padding-bottom:6px">{"".join(cols)}</div>'
