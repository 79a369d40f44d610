"""Plotly pictures for the Shapes page (pure: no streamlit).

- `weight_blocks_figure`: the weights of one (layer, direction) as labelled blocks, rows split
  by gate ([i|f|g|o], [r|z|n], [h]), the input side of layer k>0 split by direction.
- `tensors_figure`: input/h0/c0 over output/h_n/c_n, each drawn as slabs along dim 0 with the
  last axis coloured by direction (output) or each slab by (layer, direction) (states).
- `weight_heatmap`: values of a (trained) weight block.
- text builders for the page (`parameter_rows`, `total_markdown`, `layout_notes`, ...) and
  `clicked_block`, which reads a click on `weight_blocks_figure` from Streamlit's event.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .style import DIVERGING

from playground.shapes import GATE_MEANINGS, ShapeReport, output_segments, state_slices, tensor_axes

GATE_COLOURS = {"h": "#7f9cc9", "i": "#4c78a8", "f": "#f58518", "g": "#54a24b", "o": "#e45756",
                "r": "#b279a2", "z": "#9d755d", "n": "#ff9da6", "projection": "#72b7b2"}
DIRECTION_COLOURS = {"forward": "#4c78a8", "reverse": "#f58518"}
LAYER_SHADES = {"forward": ["#4c78a8", "#7fa6d3", "#aac8ea", "#cfe0f4"],  # last layer first
                "reverse": ["#f58518", "#f9a95c", "#fcc890", "#fde0c0"]}
INPUT_COLOUR = "#a0a0a0"
FONT = dict(size=12)


class Canvas:
    """Collects rectangles, lines and texts, then draws them with a handful of traces.

    (Hundreds of layout shapes/annotations make plotly's validation slow; a few traces of
    None-separated polygons are cheap, which keeps the page's rerun fast.)
    """

    def __init__(self):
        self.rects, self.lines, self.texts = {}, [], []
        self.points = []  # (x, y, label, hover, customdata)

    def rect(self, x0, y0, x1, y1, colour):
        self.rects.setdefault(colour, []).append((x0, y0, x1, y1))

    def line(self, x0, y0, x1, y1):
        self.lines.append((x0, y0, x1, y1))

    def text(self, x, y, text, position="middle center", size=10):
        self.texts.append((x, y, text, position, size))

    def point(self, x, y, label, hover, customdata=None):
        self.points.append((x, y, label, hover, customdata))

    def traces(self, line_colour="white", dashed=False) -> list:
        out = []
        for colour, rects in self.rects.items():
            xs, ys = [], []
            for x0, y0, x1, y1 in rects:
                xs += [x0, x1, x1, x0, x0, None]
                ys += [y0, y0, y1, y1, y0, None]
            out.append(go.Scatter(x=xs, y=ys, fill="toself", fillcolor=colour, mode="lines",
                                  line=dict(color="white", width=1), hoverinfo="skip",
                                  showlegend=False))
        if self.lines:
            xs, ys = [], []
            for x0, y0, x1, y1 in self.lines:
                xs += [x0, x1, None]
                ys += [y0, y1, None]
            out.append(go.Scatter(x=xs, y=ys, mode="lines", hoverinfo="skip", showlegend=False,
                                  line=dict(color=line_colour, width=2 if dashed else 0.5,
                                            dash="dash" if dashed else None)))
        for size in sorted({t[4] for t in self.texts}):
            sel = [t for t in self.texts if t[4] == size]
            out.append(go.Scatter(x=[t[0] for t in sel], y=[t[1] for t in sel], mode="text",
                                  text=[t[2] for t in sel], textposition=[t[3] for t in sel],
                                  textfont=dict(size=size, color="#444"), hoverinfo="skip",
                                  unselected=dict(textfont=dict(color="#444")),  # no dimming
                                  showlegend=False))
        if self.points:
            x, y, label, hover, custom = zip(*self.points)
            out.append(go.Scatter(x=x, y=y, mode="markers+text", text=label, hovertext=hover,
                                  hoverinfo="text", customdata=[c or ["", ""] for c in custom],
                                  textfont=dict(size=13, color="white"), showlegend=False,
                                  marker=dict(size=28, opacity=0.01, color="white"),
                                  selected=dict(marker=dict(opacity=0.5, color="black")),
                                  unselected=dict(marker=dict(opacity=0.01),
                                                  textfont=dict(color="white"))))
        return out


def _blank_layout(fig, height, title):
    """No dragmode/clickmode here: with on_select, Streamlit sets them so a click selects."""
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10), title=title,
                      plot_bgcolor="white", font=FONT,
                      uirevision="shapes")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def _scale(entries) -> float:
    """Units per row/column so the biggest matrix side is drawn about 6 units long."""
    return max(max(e.shape) for e in entries) / 6.0


def weight_blocks_figure(desc: ShapeReport, layer: int, direction: str = "forward") -> go.Figure:
    """The parameters of one (layer, direction), drawn to scale with their gate row blocks."""
    entries = [e for e in desc.details if e.layer == layer and e.direction == direction]
    if not entries:
        raise ValueError(f"no layer {layer} / {direction} in this {desc.family}")
    unit, c, dividers = _scale(entries), Canvas(), Canvas()
    x = 0.0
    for e in entries:
        rows = e.shape[0]
        cols = e.shape[1] if len(e.shape) == 2 else None
        width = max(cols / unit, 0.25) if cols else 0.3
        for gate, r0, r1 in e.row_blocks:
            y0, y1 = -r1 / unit, -r0 / unit
            c.rect(x, y0, x + width, y1, GATE_COLOURS.get(gate, INPUT_COLOUR))
            meaning = GATE_MEANINGS.get(gate, "projection h_t → proj_size")
            x_mid = x + width / (4 if len(e.col_blocks) > 1 else 2)  # off the divider
            c.point(x_mid, (y0 + y1) / 2,
                    f"<b>{gate}</b>" if (r1 - r0) / unit > 0.25 else "",
                    f"{e.name}[{r0}:{r1}] — {gate}: {meaning}"
                    f"<br>rows {r0}..{r1 - 1}, shape {(r1 - r0, *e.shape[1:])}",
                    [e.name, gate])
        for _, c0, _ in e.col_blocks[1:]:  # dashed line between the direction halves
            dividers.line(x + c0 / unit, 0, x + c0 / unit, -rows / unit)
        if len(e.col_blocks) > 1:
            for label, c0, c1 in e.col_blocks:
                c.text(x + (c0 + c1) / 2 / unit, 0.05,
                       f"[:, {c0}:{c1}]<br>{label.split(' h ')[0]}", "top center")
        c.text(x + width / 2, 0.45 if len(e.col_blocks) > 1 else 0.05,
               f"<b>{e.name}</b>", "top center", size=12)
        c.text(x + width / 2, -rows / unit - 0.05, f"{e.shape}<br>{e.formula}",
               "bottom center")
        x += width + 1.2
    traces = c.traces()  # the clickable gate points last, above the dashed dividers
    fig = go.Figure(traces[:-1] + dividers.traces("black", dashed=True) + traces[-1:])
    fig.update_xaxes(range=[-0.4, x - 0.6])
    fig.update_yaxes(range=[-6.0 - 1.0, 1.2])
    return _blank_layout(fig, 380, f"layer {layer}, {direction}: rows split by gate "
                                   f"[{'|'.join(desc.gates)}] (drawn to scale)")


def _slab_labels(desc: ShapeReport, name: str, n: int) -> list[tuple[str, str, str]]:
    """(label, colour, hover) for each index along dim 0 of a tensor."""
    if name in ("h0", "h_n", "c0", "c_n"):
        R = desc.hidden_size if name in ("c0", "c_n") else desc.real_hidden
        L, D = desc.num_layers, desc.num_directions
        view = f"{name}.view({L}, {D}, {desc.batch_size}, {R})"
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
    axis = "b" if desc.batch_first else "t"
    return [(f"{axis}={i}", INPUT_COLOUR, f"{name}[{i}]") for i in range(n)]


def _shown_indices(n: int, limit: int = 8) -> list[int | None]:
    """Indices to draw along dim 0: all of them, or the first few, a gap (None), the last."""
    return list(range(n)) if n <= limit else [*range(limit - 2), None, n - 1]


def _tensor_panel(desc, name, x0, y0, c: Canvas) -> None:
    n0, n1, n2 = desc.tensor(name)
    labels = _slab_labels(desc, name, n0)
    segments = ([(s["direction"], s["start"], s["stop"]) for s in output_segments(desc)]
                if name == "output" else [(None, 0, n2)])
    shown = _shown_indices(n0)
    slab_h = 1.6 / len(shown)
    axes = tensor_axes(desc, name)
    c.text(x0 + 0.5, y0 + 0.2, f"<b>{name}</b> {desc.tensor(name)}", "top center", size=12)
    c.text(x0 + 0.5, y0 - 1.68, f"↓ dim 0: {axes[0]}<br>rows in a slab: {axes[1]}"
                                f"<br>→ dim 2: {axes[2]}", "bottom center")
    for k, i in enumerate(shown):
        top = y0 - k * slab_h
        if i is None:
            c.text(x0 + 0.5, top - slab_h / 2, "⋮", size=14)
            continue
        label, colour, hover = labels[i]
        for direction, s0, s1 in segments:
            xa, xb = x0 + s0 / n2, x0 + s1 / n2
            c.rect(xa, top - slab_h * 0.9, xb, top, DIRECTION_COLOURS[direction] if direction
                   else colour)
            what = f"{name}[{i}, :, {s0}:{s1}] — {direction} direction of the last layer" \
                if direction else hover
            c.point((xa + xb) / 2, top - slab_h * 0.45, "", what)
            if direction and k == 0:
                c.text((xa + xb) / 2, y0 + 0.02, f"[..., {s0}:{s1}] {direction}", "top center")
        for b in range(1, min(n1, 12)):  # thin lines between the rows of dim 1
            y = top - slab_h * 0.9 * b / min(n1, 12)
            c.line(x0, y, x0 + 1, y)
        c.text(x0 - 0.02, top - slab_h * 0.45, label, "middle left")


def tensors_figure(desc: ShapeReport) -> go.Figure:
    """input, h0, c0 (top row) and output, h_n, c_n (bottom row), colour-coded layouts."""
    c = Canvas()
    grid = [("input", 0, 0), ("h0", 1, 0), ("c0", 2, 0),
            ("output", 0, 1), ("h_n", 1, 1), ("c_n", 2, 1)]
    for name, col, row in grid:
        if desc.tensor(name) is not None:
            _tensor_panel(desc, name, x0=col * 1.75, y0=-row * 2.6, c=c)
    fig = go.Figure(c.traces())
    fig.update_xaxes(range=[-0.75, 3 * 1.75 - 0.6])
    fig.update_yaxes(range=[-2.6 - 2.4, 0.5])
    batch = "batch-first: (batch, seq, feature)" if desc.batch_first else \
        "time-major: (seq, batch, feature)"
    return _blank_layout(fig, 620, f"input and output are {batch}")


def weight_heatmap(values: np.ndarray, title: str, row_offset: int = 0) -> go.Figure:
    """A heatmap of one weight block; 1-D biases are drawn as a single column."""
    z = np.asarray(values, dtype=np.float32)
    if z.ndim == 1:
        z = z[:, None]
    limit = float(np.abs(z).max()) or 1.0
    fig = go.Figure(go.Heatmap(z=z, y=np.arange(row_offset, row_offset + z.shape[0]),
                               colorscale=DIVERGING, zmid=0, zmin=-limit, zmax=limit,
                               colorbar=dict(title="value")))
    fig.update_layout(title=title, height=420, margin=dict(l=10, r=10, t=40, b=10),
                      uirevision="heatmap", xaxis_title="column (input feature)",
                      yaxis_title="row (unit of the gate)")
    fig.update_yaxes(autorange="reversed")
    return fig


def parameter_rows(desc: ShapeReport) -> list[dict]:
    """The Parameters tab's table: one row per parameter, its shape, formula and gate rows."""
    return [{"name": e.name, "shape": str(e.shape), "elements": e.numel, "shape formula": e.formula,
             "row blocks (gate: rows)": "  ".join(f"{g}: {a}–{b - 1}" for g, a, b in e.row_blocks)}
            for e in desc.details]


def total_markdown(desc: ShapeReport) -> str:
    """The total parameter count with its formula, the numbers put in, and the symbols."""
    symbols = ", ".join(f"{k}={v}" for k, v in desc.symbols.items() if k != "P" or desc.proj_size)
    return (f"**Total parameters: {desc.total:,}**  \n"
            f"`{desc.total_formula}` = `{desc.total_numbers}` with {symbols}  \n"
            "(I = input_size, H = hidden_size, L = num_layers, D = num_directions"
            + (", P = proj_size" if desc.proj_size else "") + ")")


def gate_rows_markdown(desc: ShapeReport) -> str:
    """How the rows of a weight are stacked gate by gate."""
    gate_names = ", ".join(f"{g} = {GATE_MEANINGS[g]}" for g in desc.gates)
    return (f"Rows are stacked gate by gate ({gate_names}); each block has hidden_size = "
            f"{desc.hidden_size} rows. `weight_ih` multiplies the layer's input, "
            "`weight_hh` the previous hidden state.")


def layer_input_note(desc: ShapeReport, layer: int) -> str | None:
    """What layer k > 0 reads (the output of layer k-1, both directions); None for layer 0."""
    if layer == 0:
        return None
    r = "proj_size" if desc.proj_size else "hidden_size"
    D, R = desc.num_directions, desc.real_hidden
    return (f"Layer {layer} reads the output of layer {layer - 1}, not x: its input has "
            f"num_directions·{r} = {D}·{R} = {D * R} features"
            + (" (forward half then reverse half, split by the dashed line)."
               if desc.bidirectional else "."))


def layout_notes(desc: ShapeReport) -> str:
    """The Tensor layout tab's notes: h_n's index order, the direction halves, batch_first."""
    R, D, L, B = desc.real_hidden, desc.num_directions, desc.num_layers, desc.batch_size
    notes = [f"`h_n.view({L}, {D}, {B}, {R})[layer, direction]` is `h_n[layer·{D} + "
             "direction]`: index 0 is layer 0 forward" + (", 1 layer 0 reverse." if D == 2 else ".")]
    if D == 2:
        notes.append(f"`output[..., :{R}]` is the forward direction and `output[..., {R}:]` the "
                     f"reverse one (`output.view(*output.shape[:2], 2, {R})`). The forward half "
                     f"at the last time step equals `h_n[{(L - 1) * 2}]`; the reverse half at "
                     f"t=0 equals `h_n[{(L - 1) * 2 + 1}]`.")
    notes.append("batch_first=True swaps the first two axes of input and output only; "
                 "h0, h_n, c0, c_n stay (num_layers·num_directions, batch, feature)."
                 + (" (on now)" if desc.batch_first else ""))
    return "\n".join(f"- {n}" for n in notes)


def clicked_block(event, desc: ShapeReport) -> tuple[str, str] | None:
    """(parameter name, gate) of the block clicked in `weight_blocks_figure`, from the selection
    event Streamlit returns; None when nothing (or no block of `desc`) was clicked."""
    points = (event or {}).get("selection", {}).get("points", []) if event else []
    clicked = tuple(points[0]["customdata"]) if points and points[0].get("customdata") else None
    return clicked if clicked and clicked[0] in desc.parameters else None
