"""Lab 6, random vs consecutive sampling: the batch layout, animated, and what detach() saves."""
from __future__ import annotations

import time

import streamlit as st

from playground.figures import sampler as sampler_figures
from playground.figures.labs import curves_figure
from playground.labs.registry import Lab
from playground.ui.labs.common import run_with_status, wkey


def render(lab: Lab) -> None:
    c1, c2, c3, c4 = st.columns(4)
    n_tokens = c1.slider("corpus length", 10, 60, 30, key=wkey(lab, "n"))
    batch_size = c2.slider("batch_size", 1, 4, 2, key=wkey(lab, "batch"))
    num_steps = c3.slider("num_steps", 2, 10, 6, key=wkey(lab, "steps"))
    seed = c4.number_input("random seed", 0, 99, 0, key=wkey(lab, "seed"))
    r = run_with_status(lab, n_tokens=n_tokens, batch_size=batch_size, num_steps=num_steps,
                        seed=int(seed))
    sampler = st.radio("sampler", ["consecutive", "random"], horizontal=True, key=wkey(lab, "sampler"))
    n_batches = len(r[sampler])
    if n_batches == 0:
        st.warning("The corpus is too short for one minibatch with these settings.")
        return
    current = st.slider("show batches up to", 1, n_batches, n_batches, key=wkey(lab, "current")) - 1
    slot = st.empty()
    args = dict(n_tokens=n_tokens, batch_size=batch_size, num_steps=num_steps, sampler=sampler,
                seed=int(seed))
    if st.button("▶ Animate", key=wkey(lab, "play")):
        for k in range(n_batches):
            slot.plotly_chart(sampler_figures.sampler_figure(current=k, **args), key=wkey(lab, f"f{k}"))
            time.sleep(0.7)
    slot.plotly_chart(sampler_figures.sampler_figure(current=current, **args), key=wkey(lab, "fig"))
    st.caption("Numbers are token positions. " + (
        "Consecutive: the corpus is cut into batch_size rows (batchify); arrows mark the hidden "
        "state carried from row i of one batch to row i of the next, detached at the boundary."
        if sampler == "consecutive" else
        "Random: windows start at multiples of num_steps in shuffled order; h=0 marks the reset "
        "before every batch, since a row does not continue the previous one."))
    st.subheader("What detach() saves")
    keep = st.toggle("Don't detach the carried state", key=wkey(lab, "nodetach"))
    runs = {"detach()": r["detach"]} | ({"no detach": r["no detach"]} if keep else {})
    cols = st.columns(3)
    for col, (metric, label) in zip(cols, [("ms", "ms per step (forward + backward)"),
                                           ("graph_nodes", "autograd nodes walked"),
                                           ("saved_kib", "KiB saved for backward, reachable")]):
        col.plotly_chart(curves_figure({n: [row[metric] for row in rows] for n, rows in runs.items()},
                                       "batch", label, height=280), key=wkey(lab, metric))
    last = runs[list(runs)[-1]][-1]
    st.caption(f"Measured on this server, nn.RNN(16, 64), batch_size 8, num_steps 16: at batch "
               f"{last['step']} {'without' if keep else 'with'} detach, {last['ms']:.1f} ms, "
               f"{last['graph_nodes']} nodes, {last['saved_kib']:.0f} KiB.")
