"""Streamlit rendering of the seed labs: one `render_<key>(lab)` per lab, each with a few
settings, the cached run of `lab.run`, its outcome, and `show_source(lab)` for the code."""
from __future__ import annotations

import inspect
import math
import time
from typing import Callable

import pandas as pd
import streamlit as st
import torch

from playground.labs import (d2l_rnn, fastai_chars, hello, lstm_vs_cell, ngram, perplexity,
                             sampler_view, vocab_lab, warmup)
from playground.figures import sampler as sampler_figures
from playground.figures.labs import bar_figure, curves_figure, grouped_bar_figure, xy_figure
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
    epochs = c1.slider("epochs", 5, 60, 15, key=_k(lab, "epochs"),
                       help="15, as in the seed note.")
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
    _cell_as_linear()


def _cell_as_linear() -> None:
    st.subheader("An RNN cell is one linear layer on [h; x]")
    st.latex(r"\tanh(W_{ih}x + b_{ih} + W_{hh}h + b_{hh}) = "
             r"\tanh\big([W_{hh}\;W_{ih}]\,[h;\,x] + (b_{ih} + b_{hh})\big)")
    r = hello.cell_as_one_linear()
    m1, m2 = st.columns(2)
    m1.metric("max |RNNCell h − tanh(Linear([h; x]))| over “hello”", f"{r['max_diff']:.1e}")
    m2.metric("the Linear's weight [W_hh W_ih]", f"{r['weight_shape'][0]} × {r['weight_shape'][1]}",
              help="(hidden_size, hidden_size + input_size)")
    left, right = st.columns(2)
    left.caption("nn.RNNCell, h_t at each step of “hello”")
    left.dataframe(pd.DataFrame(r["h_cell"].numpy(), index=list(hello.SOURCE)).round(5),
                   width="stretch")
    right.caption("tanh(nn.Linear(cat([h, x]))) with the same numbers")
    right.dataframe(pd.DataFrame(r["h_linear"].numpy(), index=list(hello.SOURCE)).round(5),
                    width="stretch")


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
                             key=_k(lab, "scale_steps"),
                             help="20 only checks that it runs: the numbers mean little.")
    lr = c2.select_slider("Adam lr", [1e-3, 3e-3, 1e-2], 3e-3, key=_k(lab, "scale_lr"))
    settings = (steps, lr)
    store = _scale_results()
    if c3.button("▶ Run at the seed's scale (minutes)", key=_k(lab, "scale_run")):
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
        "held-out loss (nats per char)"), key=_k(lab, "scale_bar"))
    loss = {(r["model"], r["init"]): r["val loss"] for r in table.to_dict("records")}
    noise = 2 * table["val se"].max()
    st.markdown("**The seed's claims at its own scale** (computed from this run):")
    st.markdown("\n".join(f"- {line}" for line in fastai_chars.verdict_lines(
        loss, "held-out loss", noise)))
    st.caption(f"Each held-out loss is a mean over {int(table['val chars'][0]):,} characters; its "
               f"standard error is at most {table['val se'].max():.3f} nats, so differences "
               f"below {noise:.3f} (two standard errors) are marked as within noise. One seed; "
               "another seed or more steps can reorder close models.")


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
    _seed_lstm(r["seed_lstm"])


def _seed_lstm(r: dict) -> None:
    st.subheader("Seed 002: the looked-up rows fed into nn.LSTM(4, 3)")
    st.markdown("The note builds the table above, looks up ids [3, 2, 1], adds a batch "
                "dimension with `unsqueeze(1)` — one sequence of 3 steps, shape "
                f"`{tuple(r['input'].shape)}` = (seq_len, batch, 4) — and runs an LSTM on it. "
                "Run as written on this PyTorch, it stops twice:")
    errors = {"weight": r["weight_error"], "state": r["state_error"]}
    for name, written, fixed in r["steps"]:
        st.code(written, language="python")
        st.error(f"PyTorch: {errors[name]}" if errors[name] else "(no error on this PyTorch)")
        st.caption("one-line fix:")
        st.code(fixed, language="python")
    st.caption(f"With both fixes: output {tuple(r['output'].shape)} (seq_len, batch, hidden), "
               f"h_n {tuple(r['h_n'].shape)}. (The note shows a 3 × 3 × 3 output, printed by an "
               "older PyTorch; today's checks the state's batch size against the input's.)")
    st.dataframe(_tensor_frame(r["output"], "h").round(4), width="stretch")


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
    reserved = c3.multiselect("reserved tokens (ours: after <unk>)", vocab_lab.RESERVED_CHOICES,
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
    _vocab_side_by_side(r["seed"], bool(reserved))


def _vocab_side_by_side(seed: dict, special: bool) -> None:
    st.subheader("Our layout next to seed 004's Vocab")
    st.markdown(
        "Seed 004's Vocab (with `use_special_tokens=" + str(special) + "`) puts "
        + ("`<pad>, <bos>, <eos>, <unk>` at ids 0–3" if special else "`<unk>` at id 0")
        + " and then the tokens **in order of first appearance**. Ours (as a later edition of the "
        "d2l.ai book does) puts `<unk>` **first**, whatever reserved tokens are chosen, and "
        "sorts the tokens **by falling frequency**. Why ours: `<unk>` = 0 in every vocabulary "
        "(checkpoints check it), and frequent tokens get small ids. A model learns the same "
        "either way: only the ids, i.e. the order of the embedding rows, differ.")
    left, right = st.columns(2)
    left.caption(f"first ids; seed 004's unknown token is id {seed['seed_unk']}, ours id 0")
    left.dataframe(seed["layout"], hide_index=True, width="stretch")
    right.caption("the text's first tokens encoded by each")
    right.dataframe(seed["encoded"], hide_index=True, width="stretch")


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
            slot.plotly_chart(sampler_figures.sampler_figure(current=k, **args), key=_k(lab, f"f{k}"))
            time.sleep(0.7)
    slot.plotly_chart(sampler_figures.sampler_figure(current=current, **args), key=_k(lab, "fig"))
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
    st.subheader("Linear regression: from scratch and with torch.nn")
    last = r["linreg"][-1]
    m = st.columns(4)
    m[0].metric("learned w₁ (true 2)", f"{last.w[0]:.4f}", f"{last.w[0] - warmup.TRUE_W[0]:+.4f}",
                delta_color="off")
    m[1].metric("learned w₂ (true −3.4)", f"{last.w[1]:.4f}", f"{last.w[1] - warmup.TRUE_W[1]:+.4f}",
                delta_color="off")
    m[2].metric("learned b (true 4.2)", f"{last.b:.4f}", f"{last.b - warmup.TRUE_B:+.4f}",
                delta_color="off")
    m[3].metric("loss (ŷ−y)²/2 after the last epoch", f"{last.loss:.2e}")
    _linreg_both(r["linreg"], r["linreg_nn"])
    st.subheader("Softmax and cross-entropy on two examples")
    s = r["softmax"]
    st.dataframe(pd.DataFrame({
        "logits z": [str([round(v, 2) for v in row]) for row in s["logits"].tolist()],
        "softmax(z)": [str([round(v, 3) for v in row]) for row in s["probs"].tolist()],
        "true class y": s["y"].tolist(), "p(y)": s["p_true"].numpy().round(4),
        "−log p(y) by hand": s["ce_by_hand"].numpy().round(4),
        "F.cross_entropy(z, y)": s["ce_torch"].numpy().round(4)}), hide_index=True, width="stretch")
    st.subheader("Activations, their formulas and derivatives")
    _activations(r["activations"], r["formula_check"], lab)
    st.caption("tanh is zero-centred with slope up to 1, so an RNN's state can swing both ways; "
               "sigmoid's slope is at most 1/4, and both flatten for large |x|, where gradients "
               "multiplied over many steps vanish. relu never saturates for x > 0 but lets the "
               "state grow without bound (see the clipping lab).")


def _linreg_frame(history) -> pd.DataFrame:
    return pd.DataFrame([{"epoch": e.epoch, "loss": e.loss, "w1": e.w[0], "w2": e.w[1], "b": e.b}
                         for e in history])


def _linreg_both(scratch, with_nn) -> None:
    left, right = st.columns(2)
    left.caption("from scratch: linreg, squared_loss, sgd")
    left.dataframe(_linreg_frame(scratch), hide_index=True, width="stretch")
    right.caption("nn.Linear(2, 1) + nn.MSELoss() + optim.SGD, same data and batches")
    right.dataframe(_linreg_frame(with_nn), hide_index=True, width="stretch")
    a, b = scratch[-1], with_nn[-1]
    st.caption(f"After epoch {a.epoch}: loss (ŷ−y)²/2 {a.loss:.2e} from scratch, {b.loss:.2e} "
               "with torch. nn.MSELoss is the mean of (ŷ−y)², without the ½, so at the same "
               "learning rate its steps are twice as long: at small learning rates the torch "
               "version gets closer in the same epochs.")


def _activations(a: dict, check: dict, lab: Lab) -> None:
    x = a["x"].numpy()
    cols = st.columns(3)
    for col, name in zip(cols, warmup.FORMULAS):
        f_tex, d_tex, _ = warmup.FORMULAS[name]
        col.latex(f_tex)
        col.latex(d_tex)
        col.plotly_chart(xy_figure(x, {name: a[name].numpy(), f"d {name} (autograd)":
                                       a[f"d {name}"].numpy()}, "x", "", height=260),
                         key=_k(lab, f"act_{name}"))
        col.metric(f"max |formula − torch.{name}|", f"{check[name]:.1e}")
    st.caption("The seed's note writes sigmoid(x) = 11+exp(−x) and tanh(x) = 1−exp(−2x)1+exp(−2x): "
               "the fraction bars were lost. The formulas above, evaluated as written, match "
               "PyTorch's functions to the printed difference.")


# 10 -----------------------------------------------------------------------------------------
def render_ngram(lab: Lab) -> None:
    c1, c2 = st.columns([3, 1])
    phrase = c1.text_input("words (1 to 6)", ngram.DEFAULT_PHRASE, key=_k(lab, "phrase"))
    n = c2.slider("n (n-gram)", 1, 6, 3, key=_k(lab, "n"), help="3: the seed's trigram")
    try:
        r = run_with_status(lab, phrase=phrase, n=n)
    except ValueError as err:
        st.error(str(err))
        return
    words = r["words"]
    st.latex(_chain_latex(words, n))
    st.dataframe(r["factors"].style.format({"p": "{:.4g}"}), hide_index=True, width="stretch")
    st.metric(f"P({' '.join(words)}) with n = {n}", f"{r['probability']:.4g}",
              help=f"product of the p column; counts from {r['corpus_words']:,} words of the "
                   "PyTorch docstrings corpus")
    st.caption(f"The same phrase for every n (n = {len(words)} is the exact chain rule on "
               "these counts):")
    st.dataframe(r["by_n"].style.format({"P(phrase)": "{:.4g}"}), hide_index=True)


def _chain_latex(words: list[str], n: int) -> str:
    """P(w1..wk) = Π P(w_i | last n-1 words) with the words filled in."""
    w = [rf"\text{{{x}}}" for x in words]
    factors = [f"P({w[i]}" + (" \\mid " + ", ".join(w[max(0, i - n + 1):i]) if i and n > 1 else "")
               + ")" for i in range(len(w))]
    sign = "=" if n >= len(words) else r"\approx"
    return f"P({', '.join(w)}) {sign} " + " ".join(factors)


# 11 -----------------------------------------------------------------------------------------
def render_d2l_rnn(lab: Lab) -> None:
    c1, c2, c3 = st.columns(3)
    num_chars = c1.select_slider("characters of the corpus", [5_000, 20_000, 50_000], 20_000,
                                 key=_k(lab, "chars"))
    epochs = c2.slider("epochs", 2, 20, 8, key=_k(lab, "epochs"))
    lr = c3.select_slider("Adam lr", [1e-3, 3e-3, 1e-2], 3e-3, key=_k(lab, "lr"))
    r = run_with_status(lab, num_chars=num_chars, epochs=epochs, lr=lr)
    hist = pd.DataFrame(r["history"])
    V, last = r["vocab_size"], r["history"][-1]
    m = st.columns(4)
    m[0].metric("|V| (uniform guessing)", V)
    m[1].metric("train perplexity, last epoch", f"{last['train perplexity']:.2f}")
    m[2].metric("held-out perplexity, last epoch", f"{last['validation perplexity']:.2f}")
    m[3].metric("training time", f"{r['seconds']:.1f} s")
    st.plotly_chart(curves_figure({c: hist[c].tolist() for c in ("train perplexity",
                                                                 "validation perplexity")},
                                  "epoch", "perplexity", hline=(V, f"|V| = {V}")),
                    key=_k(lab, "ppl"))
    st.caption(f"{r['chars']:,} characters of the PyTorch docstrings corpus, 90 % to train; "
               "nn.RNN(|V|, 256) on one-hot inputs, batch 32, num_steps 35, gradients clipped "
               "to norm 1. Training perplexity is averaged over the epoch while the model "
               "still learns, so it can sit above the held-out one.")


def renderer(lab: Lab) -> Callable[[Lab], None]:
    """The function that draws `lab`: `render_<lab.key>` in this module. This naming rule keeps
    `playground.labs.registry.LABS` the one list of labs (tests check each has its renderer)."""
    fn = globals().get(f"render_{lab.key}")
    if not callable(fn):
        raise LookupError(f"lab {lab.key!r} has no renderer: define render_{lab.key}(lab) in "
                          "playground/ui/labs.py")
    return fn


def render(lab: Lab) -> None:
    renderer(lab)(lab)
