"""Lab 2, fast.ai character models: five rewrites of one recurrence trained side by side, and
the same at the seed's scale on real English (a button; results shared by the server)."""
from __future__ import annotations

import math

import pandas as pd
import streamlit as st
import torch

from playground.figures.labs import curves_figure, grouped_bar_figure
from playground.labs import fastai_chars
from playground.labs.registry import Lab
from playground.ui.labs.common import run_with_status, wkey


def _windows_frame(pairs) -> pd.DataFrame:
    return pd.DataFrame([{"input": a.replace(" ", "␣"), "target": b.replace(" ", "␣")}
                         for a, b in pairs])


def render(lab: Lab) -> None:
    c1, c2, c3 = st.columns(3)
    seq_len = c1.slider("seq_len (characters read)", 4, 16, 8, key=wkey(lab, "seq_len"))
    epochs = c2.slider("epochs (full batch, Adam)", 20, 120, 60, step=10, key=wkey(lab, "epochs"))
    identity = c3.toggle("weight_hh = identity", key=wkey(lab, "identity"),
                         help="Initialise the hidden-to-hidden matrix to I (rnn.weight_hh_l0, "
                              "or l_hidden for the hand-written loops).")
    demo = fastai_chars.TRAIN_TEXT[:60]
    st.markdown(f"Windows of the training text, which starts “{demo[:30]}…”:")
    w1, w2 = st.columns(2)
    w1.caption(f"Overlapping (stride 1): {seq_len} characters → the next one. Char3Model "
               "(3 characters), CharLoop*, CharRnn.")
    w1.dataframe(_windows_frame(fastai_chars.overlapping_windows(demo, seq_len)[:8]),
                 hide_index=True, width="stretch")
    w2.caption(f"Non-overlapping (stride {seq_len}): the target is the input shifted by one; "
               "every position predicts. CharSeqRnn.")
    w2.dataframe(_windows_frame(fastai_chars.nonoverlapping_windows(demo, seq_len)[:8]),
                 hide_index=True, width="stretch")
    curves = run_with_status(lab, seq_len=seq_len, epochs=epochs)
    chosen, other = ("identity", "default") if identity else ("default", "identity")
    st.plotly_chart(curves_figure(curves[chosen], "epoch", "loss (nats per predicted char)",
                                  dashed={f"{n} ({other})": v for n, v in curves[other].items()}
                                  if st.checkbox("also draw the other initialisation (dotted)",
                                                 key=wkey(lab, "both")) else None),
                    key=wkey(lab, "chart"))
    st.dataframe(pd.DataFrame([{"model": n, "first loss": curves[chosen][n][0],
                                "final loss (default init)": curves["default"][n][-1],
                                "final loss (weight_hh = I)": curves["identity"][n][-1]}
                               for n in curves["default"]]).round(3),
                 hide_index=True, width="stretch")
    final = {(n, init): c[n][-1] for init, c in curves.items() for n in c}
    st.markdown("**The seed's claims at this small scale** (computed from the table):")
    st.markdown("\n".join(f"- {line}" for line in fastai_chars.verdict_lines(
        final, f"final training loss on the {len(fastai_chars.TRAIN_TEXT)}-character text")))
    st.caption("Training loss on a text this short measures memorising as much as predicting, "
               "and CharSeqRnn's averages over all 8 positions of its windows (the first read "
               "only one character), so it is not the same quantity as the others'. The run "
               "below scores every model on the same held-out characters.")
    _fastai_scale_section(lab)


@st.cache_resource(show_spinner=False)
def _scale_results() -> dict:
    """Finished seed-scale runs by settings, shared by every session of this server."""
    return {}


def _progress_callback(bar):
    """progress(done, total, label) for run_at_scale, redrawing the bar once per percent."""
    shown = [-1]

    def update(done: int, total: int, label: str) -> None:
        percent = 100 * done // total
        if percent != shown[0]:
            shown[0] = percent
            bar.progress(done / total, text=f"{label}: {done:,} of {total:,} steps")
    return update


def _fastai_scale_section(lab: Lab) -> None:
    st.subheader("At the seed's scale: real English, n_fac 42, hidden 256, batch 512")
    st.markdown(
        "The five models again, each with default and identity weight_hh, at fast.ai's sizes: "
        "the PyTorch docstrings corpus (English prose from the local torch install; the last "
        "10 % held out), windows of 8 characters, random batches of 512, Adam at the learning "
        "rate below, then a tenth of it for the last quarter of the steps. Every model is scored on the same held-out characters, read from the 8 "
        "characters before them (3 for Char3Model; CharSeqRnn by its last output).")
    c1, c2, c3 = st.columns([2, 1, 2])
    steps = c1.select_slider("steps per model (10 runs)", [20, 100, 300, 600], 300,
                             key=wkey(lab, "scale_steps"),
                             help="20 only checks that it runs: the numbers mean little.")
    lr = c2.select_slider("Adam lr", [1e-3, 3e-3, 1e-2], 3e-3, key=wkey(lab, "scale_lr"))
    settings = (steps, lr)
    store = _scale_results()
    if c3.button("▶ Run at the seed's scale (minutes)", key=wkey(lab, "scale_run")):
        bar = st.progress(0.0, text="loading the corpus …")
        torch.set_num_threads(1)   # measured: 1 thread beat 2 on this 2-core server
        store[settings] = fastai_chars.run_at_scale(steps=steps, lr=lr,
                                                    progress=_progress_callback(bar))
        bar.empty()
    if settings not in store:
        st.caption("Not run yet with these settings on this server: press the button.")
        return
    _scale_outcome(store[settings], lab)


def _scale_outcome(table: pd.DataFrame, lab: Lab) -> None:
    a = table.attrs
    m = st.columns(4)
    m[0].metric("characters: trained on / held out",
                f"{a['train_chars'] / 1000:.0f}k / {a['val_chars'] / 1000:.0f}k",
                help=f"{a['train_chars']:,} / {a['val_chars']:,}")
    m[1].metric("vocabulary |V|", a["vocab_size"], help=f"uniform guessing: ln |V| = "
                f"{math.log(a['vocab_size']):.2f} nats")
    m[2].metric("windows seen per model", f"{int(table['steps'][0]) * 512:,}")
    m[3].metric("training time, all 10 runs", f"{table['seconds'].sum():.0f} s")
    wide = table.pivot(index="model", columns="init", values=["val loss", "train loss"])
    wide = wide.reindex(list(fastai_chars.MODELS))
    wide.columns = [f"{v} ({i})" for v, i in wide.columns]
    st.dataframe(wide.round(3), width="stretch")
    st.plotly_chart(grouped_bar_figure(
        list(fastai_chars.MODELS),
        {f"weight_hh {i}": table[table["init"] == i].set_index("model")["val loss"]
         .reindex(list(fastai_chars.MODELS)).tolist() for i in fastai_chars.INITS},
        "held-out loss (nats per char)"), key=wkey(lab, "scale_bar"))
    loss = {(r["model"], r["init"]): r["val loss"] for r in table.to_dict("records")}
    noise = 2 * table["val se"].max()
    st.markdown("**The seed's claims at its own scale** (computed from this run):")
    st.markdown("\n".join(f"- {line}" for line in fastai_chars.verdict_lines(
        loss, "held-out loss", noise)))
    st.caption(f"Each held-out loss is a mean over {int(table['val chars'][0]):,} characters; its "
               f"standard error is at most {table['val se'].max():.3f} nats, so differences "
               f"below {noise:.3f} (two standard errors) are marked as within noise. One seed; "
               "another seed or more steps can reorder close models.")
