"""Plotly pictures for the Shapes page (pure: no streamlit).

- `weight_blocks_figure`: the weights of one (layer, direction) as labelled blocks, rows split
  by gate ([i|f|g|o], [r|z|n], [h]), the input side of layer k>0 split by direction.
- `tensors_figure`: input/h0/c0 over output/h_n/c_n, each drawn as slabs along dim 0 with the
  last axis coloured by direction (output) or each slab by (layer, direction) (states).
- `weight_heatmap`: values of a (trained) weight block.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from playground.shapes import GATE_MEANINGS, output_segments, state_slices, tensor_axes

GATE_COLOURS = {"h": "#7f9cc9", "i": "#4c78a8", "f": "#f58518", "g": "#54a24b", "o": "#e45756",
                "r": "#b279a2", "z": "#9d755d", "n": "#ff9da6", "projection": "#72b7b2"}
DIRECTION_COLOURS = {"forward": "#4c78a8", "backward": "#f58518"}
LAYER_SHADES = {"forward": ["#4c78a8", "#7fa6d3", "#aac8ea", "#cfe0f4"],  # last layer first
                "backward": ["#f58518", "#f9a95c", "#fcc890", "#fde0c0"]}
INPUT_COLOUR = "#a0a0a0"
FONT = dict(size=12)


def _rect(x0, y0, x1, y1, colour, line="white", dash=None):
    return dict(type="rect", x0=x0, y0=y0, x1=x1, y1=y1, fillcolor=colour, opacity=0.85,
                line=dict(color=line, width=1, dash=dash), layer="below")


def _points_trace(xs, ys, texts, hovers, customdata):
    """Gate letters at block centres, with hover text and click/box selection on the page."""
    return go.Scatter(x=xs, y=ys, mode="markers+text", text=texts, hovertext=hovers,
                      hoverinfo="text", customdata=customdata,
                      textfont=dict(size=13, color="white"),
                      marker=dict(size=28, opacity=0.01, color="white"), showlegend=False)


def _blank_layout(fig, height, title):
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10), title=title,
                      plot_bgcolor="white", font=FONT, dragmode="select", clickmode="event+select",
                      uirevision="shapes")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor=None)
    return fig


def _scale(entries) -> float:
    """Units per row/column so the biggest matrix side is drawn about 6 units long."""
    return max(max(e["shape"]) for e in entries) / 6.0


def weight_blocks_figure(desc: dict, layer: int, direction: str = "forward") -> go.Figure:
    """The parameters of one (layer, direction), drawn to scale with their gate row blocks."""
    entries = [e for e in desc["details"] if e["layer"] == layer and e["direction"] == direction]
    if not entries:
        raise ValueError(f"no layer {layer} / {direction} in this {desc['cell']}")
    unit = _scale(entries)
    shapes, annotations = [], []
    xs, ys, texts, hovers, custom = [], [], [], [], []
    x = 0.0
    for e in entries:
        rows = e["shape"][0]
        cols = e["shape"][1] if len(e["shape"]) == 2 else None
        width = max(cols / unit, 0.25) if cols else 0.3
        for gate, r0, r1 in e["row_blocks"]:
            y0, y1 = -r1 / unit, -r0 / unit
            shapes.append(_rect(x, y0, x + width, y1, GATE_COLOURS.get(gate, INPUT_COLOUR)))
            xs.append(x + width / 2)
            ys.append((y0 + y1) / 2)
            texts.append(f"<b>{gate}</b>" if (r1 - r0) / unit > 0.25 else "")
            meaning = GATE_MEANINGS.get(gate, "projection h_t → proj_size")
            hovers.append(f"{e['name']}[{r0}:{r1}] — {gate}: {meaning}"
                          f"<br>rows {r0}..{r1 - 1}, shape {(r1 - r0, *e['shape'][1:])}")
            custom.append([e["name"], gate])
        for label, c0, c1 in e["col_blocks"][1:]:  # dashed line between direction halves
            shapes.append(dict(type="line", x0=x + c0 / unit, x1=x + c0 / unit, y0=0,
                               y1=-rows / unit, line=dict(color="black", width=2, dash="dash")))
        if len(e["col_blocks"]) > 1:
            for label, c0, c1 in e["col_blocks"]:
                annotations.append(dict(x=x + (c0 + c1) / 2 / unit, y=0.05, yanchor="bottom",
                                        text=f"[:, {c0}:{c1}]<br>{label.split(' h ')[0]}",
                                        showarrow=False, font=dict(size=10)))
        top = 0.45 if len(e["col_blocks"]) > 1 else 0.05
        annotations.append(dict(x=x + width / 2, y=top, yanchor="bottom", showarrow=False,
                                text=f"<b>{e['name']}</b>", font=dict(size=12)))
        annotations.append(dict(x=x + width / 2, y=-rows / unit - 0.05, yanchor="top",
                                showarrow=False, text=f"{e['shape']}<br>{e['formula']}",
                                font=dict(size=10)))
        x += width + 1.2
    fig = go.Figure(_points_trace(xs, ys, texts, hovers, custom))
    fig.update_layout(shapes=shapes, annotations=annotations)
    fig.update_xaxes(range=[-0.4, x - 0.6])
    fig.update_yaxes(range=[-6.0 - 1.0, 1.2])
    return _blank_layout(fig, 380, f"layer {layer}, {direction}: rows split by gate "
                                   f"[{'|'.join(desc['gates'])}] (drawn to scale)")


def _slab_labels(desc: dict, name: str, n: int) -> list[tuple[str, str, str]]:
    """(label, colour, hover) for each index along dim 0 of a tensor."""
    if name in ("h0", "h_n", "c0", "c_n"):
        R = desc["hidden_size"] if name in ("c0", "c_n") else desc["real_hidden"]
        L, D = desc["num_layers"], desc["num_directions"]
        view = f"{name}.view({L}, {D}, {desc['batch_size']}, {R})"
        out = []
        for s in state_slices(desc):
            shades = LAYER_SHADES[s["direction"]]
            colour = shades[min(L - 1 - s["layer"], len(shades) - 1)]
            short = "fwd" if s["direction"] == "forward" else "bwd"
            out.append((f"[{s['index']}] layer {s['layer']} {short}", colour,
                        f"{name}[{s['index']}] = {view}[{s['layer']}, "
                        f"{0 if s['direction'] == 'forward' else 1}]: layer {s['layer']}, "
                        f"{s['direction']} direction"))
        return out
    axis = "b" if desc["batch_first"] else "t"
    return [(f"{axis}={i}", INPUT_COLOUR, f"{name}[{i}]") for i in range(n)]


def _shown_indices(n: int, limit: int = 8) -> list[int | None]:
    """Indices to draw along dim 0: all of them, or the first few, a gap (None), the last."""
    return list(range(n)) if n <= limit else [*range(limit - 2), None, n - 1]


def _tensor_panel(desc, name, x0, y0, shapes, points, annotations):
    shape = desc[name]
    n0, n1, n2 = shape
    labels = _slab_labels(desc, name, n0)
    segments = ([(s["direction"], s["start"], s["stop"]) for s in output_segments(desc)]
                if name == "output" else [(None, 0, n2)])
    shown = _shown_indices(n0)
    slab_h = 1.6 / len(shown)
    axes = tensor_axes(desc, name)
    annotations.append(dict(x=x0 + 0.5, y=y0 + 0.2, yanchor="bottom", showarrow=False,
                            text=f"<b>{name}</b> {shape}"))
    annotations.append(dict(x=x0 + 0.5, y=y0 - 1.68, yanchor="top", showarrow=False,
                            font=dict(size=10),
                            text=f"↓ dim 0: {axes[0]}<br>rows in a slab: {axes[1]}"
                                 f"<br>→ dim 2: {axes[2]}"))
    for k, i in enumerate(shown):
        top = y0 - k * slab_h
        if i is None:
            annotations.append(dict(x=x0 + 0.5, y=top - slab_h / 2, text="⋮", showarrow=False))
            continue
        label, colour, hover = labels[i]
        for direction, s0, s1 in segments:
            fill = DIRECTION_COLOURS[direction] if direction else colour
            xa, xb = x0 + s0 / n2, x0 + s1 / n2
            shapes.append(_rect(xa, top - slab_h * 0.9, xb, top, fill))
            what = f"{name}[{i}, :, {s0}:{s1}]" if direction else hover
            extra = f" — {direction} direction of the last layer" if direction else ""
            points.append((xa + (xb - xa) / 2, top - slab_h * 0.45, "", what + extra))
            if direction and k == 0:
                annotations.append(dict(x=(xa + xb) / 2, y=y0 + 0.02, yanchor="bottom",
                                        showarrow=False, font=dict(size=10),
                                        text=f"[..., {s0}:{s1}] {direction}"))
        for b in range(1, min(n1, 12)):  # thin lines between the rows of dim 1
            y = top - slab_h * 0.9 * b / min(n1, 12)
            shapes.append(dict(type="line", x0=x0, x1=x0 + 1, y0=y, y1=y,
                               line=dict(color="white", width=0.5)))
        annotations.append(dict(x=x0 - 0.02, y=top - slab_h * 0.45, xanchor="right",
                                showarrow=False, text=label, font=dict(size=10)))


def tensors_figure(desc: dict) -> go.Figure:
    """input, h0, c0 (top row) and output, h_n, c_n (bottom row), colour-coded layouts."""
    shapes, points, annotations = [], [], []
    grid = [("input", 0, 0), ("h0", 1, 0), ("c0", 2, 0),
            ("output", 0, 1), ("h_n", 1, 1), ("c_n", 2, 1)]
    for name, col, row in grid:
        if desc[name] is not None:
            _tensor_panel(desc, name, x0=col * 1.75, y0=-row * 2.6, shapes=shapes,
                          points=points, annotations=annotations)
    xs, ys, texts, hovers = zip(*points)
    fig = go.Figure(go.Scatter(x=xs, y=ys, mode="text", text=texts, hovertext=hovers,
                               hoverinfo="text", textfont=dict(color="white", size=11),
                               showlegend=False))
    fig.update_layout(shapes=shapes, annotations=annotations)
    fig.update_xaxes(range=[-0.75, 3 * 1.75 - 0.6])
    fig.update_yaxes(range=[-2.6 - 2.4, 0.5])
    batch = "batch-first: (batch, seq, feature)" if desc["batch_first"] else \
        "time-major: (seq, batch, feature)"
    return _blank_layout(fig, 620, f"input/output are {batch}; h and c are always "
                                   "(num_layers·num_directions, batch, feature)")


def weight_heatmap(values: np.ndarray, title: str, row_offset: int = 0) -> go.Figure:
    """A heatmap of one weight block; 1-D biases are drawn as a single column."""
    z = np.asarray(values, dtype=np.float32)
    if z.ndim == 1:
        z = z[:, None]
    limit = float(np.abs(z).max()) or 1.0
    fig = go.Figure(go.Heatmap(z=z, y=np.arange(row_offset, row_offset + z.shape[0]),
                               colorscale="RdBu", zmid=0, zmin=-limit, zmax=limit,
                               colorbar=dict(title="value")))
    fig.update_layout(title=title, height=420, margin=dict(l=10, r=10, t=40, b=10),
                      uirevision="heatmap", xaxis_title="column (input feature)",
                      yaxis_title="row (unit of the gate)")
    fig.update_yaxes(autorange="reversed")
    return fig
