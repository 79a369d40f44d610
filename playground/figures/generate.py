"""HTML, tables and figures for the Generate page. Pure: GenerationTrace in, HTML /
pandas / plotly out.

Each generated character is a span whose CSS tooltip (shown on hover, no JavaScript) lists
the model's top candidates at that step; its background deepens as the model's probability
of the chosen character falls (a surprising choice stands out).
"""
from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..generate import GenerationTrace
from .hidden import GATE_TITLES, show_token

STYLE = """<style>
.gen-text{font-family:monospace;white-space:pre-wrap;word-break:break-all;line-height:1.9;
  font-size:15px;padding:6px 8px;border:1px solid #ddd;border-radius:6px;min-height:4em}
.gen-prefix{color:#999}
.gen-tok{position:relative;cursor:help}
.gen-tok:hover{outline:2px solid #1f77b4}
.gen-tip{display:none;position:absolute;left:0;top:1.7em;z-index:1000;background:#fff;color:#222;
  border:1px solid #888;border-radius:4px;padding:4px 8px;white-space:nowrap;font-size:12px;
  line-height:1.4;box-shadow:0 2px 6px rgba(0,0,0,.25)}
.gen-tok:hover .gen-tip{display:block}
.gen-row{display:block}
.gen-bar{display:inline-block;height:8px;background:#1f77b4;margin-left:6px;vertical-align:middle}
.gen-chosen{font-weight:bold;color:#2ca02c}
</style>"""


def _tip(trace: GenerationTrace, t: int) -> str:
    """The tooltip of step t: the chosen token and the model's top candidates."""
    chosen = trace.tokens[t]
    rows = [f'<span class="gen-row">step {t}: chose <b>{html.escape(show_token(chosen))}</b> '
            f'(p = {trace.chosen_probs[t]:.3f})</span>']
    for tok, p in zip(trace.top_tokens[t], trace.top_probs[t]):
        cls = "gen-row gen-chosen" if tok == chosen else "gen-row"
        rows.append(f'<span class="{cls}">{html.escape(show_token(tok)):>3} {p:6.1%}'
                    f'<span class="gen-bar" style="width:{80 * float(p):.0f}px"></span></span>')
    return f'<span class="gen-tip">{"".join(rows)}</span>'


def text_html(trace: GenerationTrace, show_prefix: bool = True) -> str:
    """The prefix (grey) and the generated tokens, each with its hover tooltip."""
    spans = []
    for t, tok in enumerate(trace.tokens):
        shown = html.escape(tok).replace("\n", "↵\n")
        surprise = 1.0 - float(trace.chosen_probs[t])  # 0 = the model was sure
        spans.append(f'<span class="gen-tok" data-step="{t}" style="background:rgba(255,127,14,'
                     f'{0.55 * surprise:.2f})">{shown}{_tip(trace, t)}</span>')
    prefix = f'<span class="gen-prefix">{html.escape(trace.prefix)}</span>' if show_prefix else ""
    return f'{STYLE}<div class="gen-text">{prefix}{"".join(spans)}</div>'


def candidates_frame(trace: GenerationTrace, t: int) -> pd.DataFrame:
    """The model's top candidates at step t, likeliest first."""
    if not 0 <= t < len(trace.tokens):
        raise ValueError(f"step must be in 0..{len(trace.tokens) - 1}, got {t}")
    return pd.DataFrame({
        "candidate": [show_token(tok) for tok in trace.top_tokens[t]],
        "probability": trace.top_probs[t].astype(float),
        "chosen": [tok == trace.tokens[t] for tok in trace.top_tokens[t]],
    })


def mean_surprise(trace: GenerationTrace) -> float:
    """Mean -log p(chosen token) in nats: the model's own surprise at its output."""
    return float(-np.log(np.clip(trace.chosen_probs, 1e-12, 1.0)).mean()) if trace.tokens else float("nan")


def watch_figure(free: GenerationTrace, clamped: GenerationTrace) -> go.Figure:
    """The watched unit over the generated characters, without and with the clamp."""
    watch = clamped.watch
    fig = go.Figure()
    for name, tr, colour in (("without clamp", free, "#1f77b4"), ("with clamp", clamped, "#d62728")):
        steps = np.arange(len(tr.tokens))
        fig.add_trace(go.Scatter(
            x=steps, y=tr.watched, mode="lines+markers", name=name, line=dict(color=colour),
            marker=dict(size=4), customdata=[show_token(t) for t in tr.tokens],
            hovertemplate="step %{x}: chose %{customdata}<br>value %{y:.3f}<extra>" + name + "</extra>"))
    title = GATE_TITLES.get(watch.quantity, watch.quantity)
    fig.update_layout(
        title=f"{title} unit {watch.unit}, layer {watch.layer}: its value at the step that chose each character",
        xaxis_title="generation step (character index)", yaxis_title=f"{watch.quantity}[{watch.unit}]",
        height=330, margin=dict(l=10, r=10, t=50, b=10), legend=dict(orientation="h", y=-0.3))
    return fig
