"""The samplers drawn: which tokens each minibatch reads, and what happens to the state between
batches (word_language_model's batchify diagram, live). Pure: settings in, a plotly figure out."""
from __future__ import annotations

import plotly.graph_objects as go

from playground.labs.sampler_view import batch_layout

PALETTE = ("#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#EECA3B",
           "#9D755D", "#BAB0AC", "#FF9DA6")
UNUSED = "#e6e6e6"


def _cells(fig: go.Figure, xs, ys, labels, colors, opacity) -> None:
    fig.add_trace(go.Scatter(
        x=xs, y=ys, mode="markers+text", text=labels, textfont=dict(size=11, color="white"),
        marker=dict(symbol="square", size=24, color=colors, opacity=opacity,
                    line=dict(width=1, color="white")),
        hoverinfo="text", hovertext=[f"token #{t}" for t in labels], showlegend=False))


def sampler_figure(n_tokens: int = 30, batch_size: int = 2, num_steps: int = 6,
                   sampler: str = "consecutive", seed: int = 0, current: int | None = None) -> go.Figure:
    """Top: the corpus strip, each token coloured by the minibatch whose X contains it (grey:
    never used as input). Below: the minibatches side by side, rows stacked, with the state
    carried -> (detached) between consecutive batches or reset (h = 0) before random ones.
    `current` highlights batches 0..current (the animation step); None shows all."""
    batches = batch_layout(n_tokens, batch_size, num_steps, sampler, seed)
    shown = len(batches) if current is None else max(0, min(current, len(batches) - 1)) + 1
    owner = {int(t): k for k, X in enumerate(batches[:shown]) for t in X.flatten()}
    fig = go.Figure()
    xs = list(range(n_tokens))
    _cells(fig, xs, [0] * n_tokens, [str(t) for t in xs],
           [PALETTE[owner[t] % len(PALETTE)] if t in owner else UNUSED for t in xs], 1.0)
    fig.add_annotation(x=-1, y=0, text="corpus", showarrow=False, xanchor="right")
    gap = 2
    for k, X in enumerate(batches[:shown]):
        x0 = k * (num_steps + gap)
        for r, row in enumerate(X):
            y = -2 - r
            _cells(fig, [x0 + j for j in range(num_steps)], [y] * num_steps,
                   [str(int(t)) for t in row], PALETTE[k % len(PALETTE)],
                   1.0 if current is None or k == shown - 1 else 0.45)
            if sampler == "consecutive" and k > 0:
                fig.add_annotation(x=x0 - 0.6, y=y, ax=x0 - gap + 0.4, ay=y, xref="x", yref="y",
                                   axref="x", ayref="y", showarrow=True, arrowhead=3,
                                   arrowwidth=2, arrowcolor="#333", text="")
            if sampler == "random":
                fig.add_annotation(x=x0 - 0.9, y=y, text="h=0", showarrow=False,
                                   font=dict(size=10, color="#c0392b"))
        label = f"batch {k + 1}" + ("" if sampler == "random" or k == 0 else "<br>h carried, detached")
        fig.add_annotation(x=x0 + (num_steps - 1) / 2, y=-1.1, text=label, showarrow=False,
                           font=dict(size=11))
    rows = batches[0].shape[0] if batches else batch_size
    fig.update_layout(height=170 + 34 * rows, margin=dict(l=70, r=10, t=10, b=10),
                      plot_bgcolor="white", xaxis=dict(visible=False),
                      yaxis=dict(visible=False, range=[-2 - rows + 0.4, 0.7]))
    return fig
