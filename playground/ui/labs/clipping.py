"""Lab 7, gradient clipping: a relu RNN at a high learning rate with and without clipping."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from playground.figures.labs import curves_figure
from playground.labs.registry import Lab
from playground.ui.labs.common import fmt, largest, run_with_status, wkey


def render(lab: Lab) -> None:
    c1, c2, c3 = st.columns(3)
    theta = c1.select_slider("clip threshold θ", [0.1, 0.5, 1.0, 2.0, 5.0], 1.0, key=wkey(lab, "theta"))
    lr = c2.select_slider("learning rate (SGD)", [0.5, 1.0, 2.0, 3.0], 2.0, key=wkey(lab, "lr"))
    steps = c3.slider("steps", 20, 120, 60, step=10, key=wkey(lab, "steps"))
    runs = run_with_status(lab, theta=theta, lr=lr, steps=steps)
    left, right = st.columns(2)
    left.plotly_chart(curves_figure({n: h["norm_before"] for n, h in runs.items()}, "step",
                                    "global grad norm ‖g‖ before clipping", log_y=True,
                                    hline=(theta, f"θ = {theta:g}")), key=wkey(lab, "norm"))
    right.plotly_chart(curves_figure({n: h["loss"] for n, h in runs.items()}, "step",
                                     "loss (log scale; gaps are nan)", log_y=True),
                       key=wkey(lab, "loss"))
    rows = [{"run": n, "largest ‖g‖ before": largest(h["norm_before"]),
             "largest ‖g‖ used by SGD": largest(h["norm_after"]),
             "final loss": fmt(h["loss"][-1])} for n, h in runs.items()]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    st.latex(r"\|g\| = \sqrt{\textstyle\sum_p \sum_i (\partial L/\partial p_i)^2}, \quad "
             r"g \leftarrow g \cdot \min\!\left(1, \frac{\theta}{\|g\|}\right)")
    st.code("norm = torch.nn.utils.clip_grad_norm_(model.parameters(), theta)\n"
            "# returns ‖g‖ before clipping; gradients now have norm ≤ θ", language="python")
