"""Streamlit rendering of the seed labs: one `render_<key>(lab)` per lab, each with a few
settings, the cached run of `lab.run`, its outcome, and `show_source(lab)` for the code."""
from __future__ import annotations

import inspect
import math
import time

import pandas as pd
import streamlit as st
import torch

from playground.labs import fastai_chars, hello, perplexity, sampler_view, vocab_lab, warmup
from playground.labs.plots import bar_figure, curves_figure, xy_figure
from playground.labs.registry import Lab, get


@st.cache_data(show_spinner=False, max_entries=64)
def run_lab(key: str, **settings):
    """`get(key).run(**settings)`, cached per lab and settings so reruns are instant."""
    torch.set_num_threads(1)   # 2 shared cores: one thread per session's lab run
    return get(key).run(**settings)


def run_with_status(lab: Lab, **settings):
    with st.spinner(f"Running {lab.title} …"):
        return run_lab(lab.key, **settings)


def header(lab: Lab) -> None:
    st.header(lab.title)
    st.markdown(f"**What it teaches.** {lab.teaches}")
    st.info(f"**What to notice.** {lab.notice}", icon="👀")


def show_source(lab: Lab) -> None:
    """The source of the functions this lab actually ran, like Streamlit's hello demo."""
    with st.expander("Show the code that ran", expanded=False):
        for obj in lab.sources():
            st.caption(f"`{obj.__module__}.{obj.__qualname__}`")
            st.code(inspect.getsource(obj), language="python")


def _k(lab: Lab, name: str) -> str:
    return f"lab_{lab.key}_{name}"


def _fmt(v: float) -> str:
    return "∞" if math.isinf(v) else ("nan" if math.isnan(v) else f"{v:.4g}")


def _largest(values) -> str:
    """The largest finite value, and whether the run later went to nan/inf."""
    finite = [v for v in values if math.isfinite(v)]
    text = _fmt(max(finite)) if finite else "—"
    return text + (", then nan/inf" if len(finite) < len(values) else "")


def _tensor_frame(t: torch.Tensor, prefix: str) -> pd.DataFrame:
    """(T, B, H) -> rows "t=.., b=.." and columns prefix[0..H-1]."""
    T, B, H = t.shape
    return pd.DataFrame(t.reshape(T * B, H).numpy(), columns=[f"{prefix}[{j}]" for j in range(H)],
                        index=[f"t={i} b={b}" for i in range(T) for b in range(B)])


def _colour_string(predicted: str, target: str) -> str:
    return " ".join(f":green[**{p}**]" if p == t else f":red[**{p}**]"
                    for p, t in zip(predicted, target))


# 1 ------------------------------------------------------------------------------------------
def render_hello(lab: Lab) -> None:
    c1, c2 = st.columns(2)
    epochs = c1.slider("epochs", 5, 60, 20, key=_k(lab, "epochs"))
    seed = c2.number_input("seed", 0, 99, 2, key=_k(lab, "seed"),
                           help="Seed 0 leaves the one-hot versions stuck at “ohlll”: with "
                                "hidden_size = 4 classes there is little room.")
    results = run_with_status(lab, epochs=epochs, seed=int(seed))
    shown = st.slider("show the prediction after epoch", 1, epochs, epochs, key=_k(lab, "shown"))
    cols = st.columns(3)
    for col, (name, history) in zip(cols, results.items()):
        r = history[shown - 1]
        col.markdown(f"##### {name}")
        col.markdown(f"input `hello` → {_colour_string(r.predicted, hello.TARGET)}")
        col.metric(f"loss after epoch {r.epoch}", f"{r.loss:.3f}",
                   help="cross-entropy; the RNNCell loop sums it over the 5 steps")
        col.dataframe(pd.DataFrame([vars(e) for e in history]).set_index("epoch"),
                      height=220, width="stretch")
    final = {name: h[-1].predicted for name, h in results.items()}
    reached = [n for n, p in final.items() if p == hello.TARGET]
    st.success(f"Reached “ohlol”: {', '.join(reached) or 'none yet'}")
    st.plotly_chart(curves_figure({n: [e.loss for e in h] for n, h in results.items()},
                                  "epoch", "loss"), key=_k(lab, "chart"))
    st.subheader("Why CrossEntropyLoss takes class ids")
    ce = hello.cross_entropy_targets()
    st.markdown(
        f"Logits have shape `(seq_len·batch, classes) = {ce['logits_shape']}`; the target is "
        f"one class id per row, shape `(seq_len·batch,) = {ce['ids_shape']}`: `{ce['ids']}` "
        "for “ohlol”. The loss picks `-log softmax(z)[y]` from each row.")
    st.dataframe(pd.DataFrame({
        "target given as": ["class ids (N,)", "one-hot floats (N, C) = probabilities",
                            "by hand: -log_softmax(z)[y]", "one-hot integers (N, C)"],
        "loss": [f"{ce['loss_ids']:.6f}", f"{ce['loss_probabilities']:.6f}",
                 f"{ce['loss_by_hand']:.6f}", "error: " + ce["long_one_hot_error"]]}),
        hide_index=True, width="stretch")


# 2 ------------------------------------------------------------------------------------------
def _windows_frame(pairs) -> pd.DataFrame:
    return pd.DataFrame([{"input": a.replace(" ", "␣"), "target": b.replace(" ", "␣")}
                         for a, b in pairs])


def render_fastai(lab: Lab) -> None:
    c1, c2, c3 = st.columns(3)
    seq_len = c1.slider("seq_len (characters read)", 4, 16, 8, key=_k(lab, "seq_len"))
    epochs = c2.slider("epochs (full batch, Adam)", 20, 120, 60, step=10, key=_k(lab, "epochs"))
    identity = c3.toggle("weight_hh = identity", key=_k(lab, "identity"),
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
                                                 key=_k(lab, "both")) else None),
                    key=_k(lab, "chart"))
    st.dataframe(pd.DataFrame([{"model": n, "first loss": curves[chosen][n][0],
                                "final loss (default init)": curves["default"][n][-1],
                                "final loss (weight_hh = I)": curves["identity"][n][-1]}
                               for n in curves["default"]]).round(3),
                 hide_index=True, width="stretch")


# 3 ------------------------------------------------------------------------------------------
def render_lstm_cell(lab: Lab) -> None:
    c1, c2, c3, c4 = st.columns(4)
    seq_len = c1.slider("seq_len", 1, 10, 2, key=_k(lab, "seq_len"))
    batch_size = c2.slider("batch_size", 1, 5, 3, key=_k(lab, "batch"))
    hidden_size = c3.slider("hidden_size", 1, 8, 3, key=_k(lab, "hidden"))
    seed = c4.number_input("seed", 0, 10_000, 1000, key=_k(lab, "seed"))
    r = run_with_status(lab, seq_len=seq_len, batch_size=batch_size, hidden_size=hidden_size,
                        seed=int(seed))
    lstm, emb = r["lstm"], r["embedding"]
    m1, m2 = st.columns(2)
    m1.metric("max |nn.LSTM output − LSTMCell loop|", f"{lstm['max_diff_output']:.2e}")
    m2.metric("max |c_n − c from the loop|", f"{lstm['max_diff_c']:.2e}")
    left, right = st.columns(2)
    left.caption("nn.LSTM output (seq_len, batch, hidden)")
    left.dataframe(_tensor_frame(lstm["out_lstm"], "h").round(4), width="stretch")
    right.caption("stack of the LSTMCell's h_t")
    right.dataframe(_tensor_frame(lstm["out_cell"], "h").round(4), width="stretch")
    st.subheader("nn.Embedding(5, 4) with weight = arange(0, 20).view(5, 4)")
    e1, e2 = st.columns(2)
    e1.caption("the weight table: row k is the vector for id k")
    e1.dataframe(pd.DataFrame(emb["weight"].numpy()).astype(int), width="stretch")
    e2.caption(f"embedding(ids = {emb['ids'].tolist()}): rows {emb['ids'].tolist()} come back")
    e2.dataframe(pd.DataFrame(emb["looked_up"].numpy(), index=[f"id {i}" for i in emb["ids"].tolist()])
                 .astype(int), width="stretch")


# 4 ------------------------------------------------------------------------------------------
def render_step(lab: Lab) -> None:
    c1, c2, c3 = st.columns(3)
    cell = c1.radio("cell", ["RNN", "LSTM", "GRU"], index=1, horizontal=True, key=_k(lab, "cell"))
    seq_len = c2.slider("seq_len", 1, 20, 5, key=_k(lab, "seq_len"))
    num_layers = c3.slider("num_layers", 1, 3, 1, key=_k(lab, "layers"))
    r = run_with_status(lab, cell=cell, seq_len=seq_len, num_layers=num_layers)
    m1, m2, m3 = st.columns(3)
    m1.metric("max |output difference|", f"{r['max_diff_output']:.2e}")
    m2.metric("max |final state difference|", f"{r['max_diff_state']:.2e}",
              help="h_n" + (" and c_n" if cell == "LSTM" else ""))
    m3.metric("bitwise equal", "yes" if r["bitwise_equal"] else "no")
    left, right = st.columns(2)
    left.caption("whole sequence: rnn(x, state0)")
    left.dataframe(_tensor_frame(r["out_whole"], "out").round(5), width="stretch")
    right.caption("one step at a time: rnn(x[t:t+1], state) with the state carried")
    right.dataframe(_tensor_frame(r["out_steps"], "out").round(5), width="stretch")


# 5 ------------------------------------------------------------------------------------------
def render_vocab(lab: Lab) -> None:
    text = st.text_area("text", vocab_lab.SAMPLE_TEXT, height=100, key=_k(lab, "text"))
    c1, c2, c3 = st.columns(3)
    level = c1.radio("tokens", ["word", "char"], horizontal=True, key=_k(lab, "level"))
    min_freq = c2.slider("min_freq", 0, 5, 1, key=_k(lab, "min_freq"))
    reserved = c3.multiselect("reserved tokens (after <unk>)", vocab_lab.RESERVED_CHOICES,
                              default=list(vocab_lab.RESERVED_CHOICES), key=_k(lab, "reserved"))
    try:
        r = run_with_status(lab, text=text, level=level, min_freq=min_freq,
                            reserved_tokens=tuple(reserved))
    except ValueError as err:
        st.error(str(err))
        return
    m = st.columns(4)
    m[0].metric("vocabulary size |V|", len(r["vocab"]))
    m[1].metric("tokens in the text", len(r["tokens"]))
    m[2].metric("tokens encoded as <unk>", r["unk_count"])
    m[3].metric("decode(encode(text)) == text", "yes" if r["round_trip"] else "no")
    freqs = r["freqs"]
    st.plotly_chart(bar_figure(freqs["token"], freqs["count"],
                               ["#4C78A8" if k else "#E45756" for k in freqs["kept"]],
                               "count (red: below min_freq → <unk>)"), key=_k(lab, "freq"))
    left, right = st.columns(2)
    left.caption("id table: id → token")
    left.dataframe(r["table"], hide_index=True, height=300, width="stretch")
    right.caption("became <unk>: " + (", ".join(f"`{vocab_lab.visible(t)}`" for t in r["unk_tokens"])
                                      or "nothing"))
    right.markdown("**encoded** (first 40 ids)")
    right.code(str(r["ids"][:40]), language=None, wrap_lines=True)
    right.markdown("**decoded**")
    right.code(r["decoded"], language=None, wrap_lines=True)


# 6 ------------------------------------------------------------------------------------------
def render_samplers(lab: Lab) -> None:
    c1, c2, c3, c4 = st.columns(4)
    n_tokens = c1.slider("corpus length", 10, 60, 30, key=_k(lab, "n"))
    batch_size = c2.slider("batch_size", 1, 4, 2, key=_k(lab, "batch"))
    num_steps = c3.slider("num_steps", 2, 10, 6, key=_k(lab, "steps"))
    seed = c4.number_input("random seed", 0, 99, 0, key=_k(lab, "seed"))
    r = run_with_status(lab, n_tokens=n_tokens, batch_size=batch_size, num_steps=num_steps,
                        seed=int(seed))
    sampler = st.radio("sampler", ["consecutive", "random"], horizontal=True, key=_k(lab, "sampler"))
    n_batches = len(r[sampler])
    if n_batches == 0:
        st.warning("The corpus is too short for one minibatch with these settings.")
        return
    current = st.slider("show batches up to", 1, n_batches, n_batches, key=_k(lab, "current")) - 1
    slot = st.empty()
    args = dict(n_tokens=n_tokens, batch_size=batch_size, num_steps=num_steps, sampler=sampler,
                seed=int(seed))
    if st.button("▶ Animate", key=_k(lab, "play")):
        for k in range(n_batches):
            slot.plotly_chart(sampler_view.sampler_figure(current=k, **args), key=_k(lab, f"f{k}"))
            time.sleep(0.7)
    slot.plotly_chart(sampler_view.sampler_figure(current=current, **args), key=_k(lab, "fig"))
    st.caption("Numbers are token positions. " + (
        "Consecutive: the corpus is cut into batch_size rows (batchify); arrows mark the hidden "
        "state carried from row i of one batch to row i of the next, detached at the boundary."
        if sampler == "consecutive" else
        "Random: windows start at multiples of num_steps in shuffled order; h=0 marks the reset "
        "before every batch, since a row does not continue the previous one."))
    st.subheader("What detach() saves")
    keep = st.toggle("Don't detach the carried state", key=_k(lab, "nodetach"))
    runs = {"detach()": r["detach"]} | ({"no detach": r["no detach"]} if keep else {})
    cols = st.columns(3)
    for col, (metric, label) in zip(cols, [("ms", "ms per step (forward + backward)"),
                                           ("graph_nodes", "autograd nodes walked"),
                                           ("saved_kib", "KiB saved for backward, reachable")]):
        col.plotly_chart(curves_figure({n: [row[metric] for row in rows] for n, rows in runs.items()},
                                       "batch", label, height=280), key=_k(lab, metric))
    last = runs[list(runs)[-1]][-1]
    st.caption(f"Measured on this server, nn.RNN(16, 64), batch_size 8, num_steps 16: at batch "
               f"{last['step']} {'without' if keep else 'with'} detach, {last['ms']:.1f} ms, "
               f"{last['graph_nodes']} nodes, {last['saved_kib']:.0f} KiB.")


# 7 ------------------------------------------------------------------------------------------
def render_clipping(lab: Lab) -> None:
    c1, c2, c3 = st.columns(3)
    theta = c1.select_slider("clip threshold θ", [0.1, 0.5, 1.0, 2.0, 5.0], 1.0, key=_k(lab, "theta"))
    lr = c2.select_slider("learning rate (SGD)", [0.5, 1.0, 2.0, 3.0], 2.0, key=_k(lab, "lr"))
    steps = c3.slider("steps", 20, 120, 60, step=10, key=_k(lab, "steps"))
    runs = run_with_status(lab, theta=theta, lr=lr, steps=steps)
    left, right = st.columns(2)
    left.plotly_chart(curves_figure({n: h["norm_before"] for n, h in runs.items()}, "step",
                                    "global grad norm ‖g‖ before clipping", log_y=True,
                                    hline=(theta, f"θ = {theta:g}")), key=_k(lab, "norm"))
    right.plotly_chart(curves_figure({n: h["loss"] for n, h in runs.items()}, "step",
                                     "loss (log scale; gaps are nan)", log_y=True),
                       key=_k(lab, "loss"))
    rows = [{"run": n, "largest ‖g‖ before": _largest(h["norm_before"]),
             "largest ‖g‖ used by SGD": _largest(h["norm_after"]),
             "final loss": _fmt(h["loss"][-1])} for n, h in runs.items()]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    st.latex(r"\|g\| = \sqrt{\textstyle\sum_p \sum_i (\partial L/\partial p_i)^2}, \quad "
             r"g \leftarrow g \cdot \min\!\left(1, \frac{\theta}{\|g\|}\right)")
    st.code("norm = torch.nn.utils.clip_grad_norm_(model.parameters(), theta)\n"
            "# returns ‖g‖ before clipping; gradients now have norm ≤ θ", language="python")


# 8 ------------------------------------------------------------------------------------------
def render_perplexity(lab: Lab) -> None:
    text = st.text_input("text", perplexity.TEXT, key=_k(lab, "text"))
    confidence = st.slider("confidently wrong: probability put on a wrong token", 0.5, 1.0, 1.0,
                           step=0.01, key=_k(lab, "conf"),
                           help="1.0 leaves exactly 0 for the true token.")
    try:
        r = run_with_status(lab, text=text, wrong_confidence=confidence)
    except ValueError as err:
        st.error(str(err))
        return
    V = r["vocab_size"]
    st.markdown(f"|V| = **{V}** characters, {r['n_predictions']} next-character predictions.")
    rows = [{"model": n, "mean p(true next)": round(m["mean p(true next)"], 4),
             "loss (nats)": _fmt(m["loss"]), "perplexity": _fmt(m["perplexity"])}
            for n, m in r["models"].items()]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    finite = {n: m["perplexity"] for n, m in r["models"].items() if math.isfinite(m["perplexity"])}
    fig = bar_figure(list(finite), list(finite.values()), ["#54A24B", "#4C78A8", "#F58518", "#E45756"][:len(finite)],
                     "perplexity (log scale)", log_y=True)
    fig.add_hline(y=V, line_dash="dash", annotation_text=f"|V| = {V} (uniform guessing)",
                  annotation_position="bottom right")
    fig.update_yaxes(range=[math.log10(0.5), math.log10(2 * max([V, *finite.values()]))])
    st.plotly_chart(fig, key=_k(lab, "bar"))
    if len(finite) < len(r["models"]):
        st.caption("Infinite perplexity is not drawn: one zero probability on the truth is enough.")


# 9 ------------------------------------------------------------------------------------------
def render_warmup(lab: Lab) -> None:
    c1, c2, c3 = st.columns(3)
    epochs = c1.slider("epochs", 1, 10, 5, key=_k(lab, "epochs"))
    lr = c2.select_slider("learning rate", [0.003, 0.01, 0.03, 0.1], 0.03, key=_k(lab, "lr"))
    batch_size = c3.select_slider("batch_size", [1, 10, 100], 10, key=_k(lab, "batch"))
    r = run_with_status(lab, epochs=epochs, lr=lr, batch_size=batch_size)
    st.subheader("Linear regression from scratch")
    last = r["linreg"][-1]
    m = st.columns(4)
    m[0].metric("learned w₁ (true 2)", f"{last.w[0]:.4f}", f"{last.w[0] - warmup.TRUE_W[0]:+.4f}",
                delta_color="off")
    m[1].metric("learned w₂ (true −3.4)", f"{last.w[1]:.4f}", f"{last.w[1] - warmup.TRUE_W[1]:+.4f}",
                delta_color="off")
    m[2].metric("learned b (true 4.2)", f"{last.b:.4f}", f"{last.b - warmup.TRUE_B:+.4f}",
                delta_color="off")
    m[3].metric("loss (ŷ−y)²/2 after the last epoch", f"{last.loss:.2e}")
    st.dataframe(pd.DataFrame([{"epoch": e.epoch, "loss": e.loss, "w1": e.w[0], "w2": e.w[1], "b": e.b}
                               for e in r["linreg"]]), hide_index=True, width="stretch")
    st.subheader("Softmax and cross-entropy on two examples")
    s = r["softmax"]
    st.dataframe(pd.DataFrame({
        "logits z": [str([round(v, 2) for v in row]) for row in s["logits"].tolist()],
        "softmax(z)": [str([round(v, 3) for v in row]) for row in s["probs"].tolist()],
        "true class y": s["y"].tolist(), "p(y)": s["p_true"].numpy().round(4),
        "−log p(y) by hand": s["ce_by_hand"].numpy().round(4),
        "F.cross_entropy(z, y)": s["ce_torch"].numpy().round(4)}), hide_index=True, width="stretch")
    st.subheader("Activations and their derivatives")
    a = r["activations"]
    x = a["x"].numpy()
    left, right = st.columns(2)
    left.plotly_chart(xy_figure(x, {n: a[n].numpy() for n in ("relu", "sigmoid", "tanh")}, "x",
                                "f(x)"), key=_k(lab, "act"))
    right.plotly_chart(xy_figure(x, {n: a[f"d {n}"].numpy() for n in ("relu", "sigmoid", "tanh")},
                                 "x", "f′(x) (autograd)"), key=_k(lab, "dact"))
    st.caption("tanh is zero-centred with slope up to 1, so an RNN's state can swing both ways; "
               "sigmoid's slope is at most 1/4, and both flatten for large |x|, where gradients "
               "multiplied over many steps vanish. relu never saturates for x > 0 but lets the "
               "state grow without bound (see the clipping lab).")


RENDERERS = {"hello": render_hello, "fastai": render_fastai, "lstm_cell": render_lstm_cell,
             "step": render_step, "vocab": render_vocab, "samplers": render_samplers,
             "clipping": render_clipping, "perplexity": render_perplexity, "warmup": render_warmup}
