"""Streamlit helpers for the Generate page: the weights snapshot, the sampling controls,
the text with hover tooltips, the step inspector and the neuron-clamp controls.

Session-state keys (all prefixed "gen_"): gen_weights, gen_prefix, gen_length,
gen_temperature, gen_top_k, gen_seed, gen_step, gen_layer, gen_quantity, gen_unit,
gen_clamp_mode, gen_value, gen_decoding.
"""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
import torch

from playground.cells import LABELS, SIGMOID_GATES
from playground.figures import generate as gv
from playground.generate import Clamp, GenerationTrace, unit_quantities
from playground.figures.hidden import GATE_TITLES
from playground.front import RunFront as Run
from playground.ui.share import capped, plain
from playground.ui import registry

CLAMP_MODES = ("zero it", "set it to a value")
REFRESH_KEY = "gen_refresh"   # Generate was pressed: take the run's newest weights
DECODINGS = ("sampled", "greedy")


@dataclass(frozen=True)
class GenerateOptions:
    """The sampling controls' values: what generate_trace is called with."""
    prefix: str
    length: int
    temperature: float
    top_k: int | None           # None: all tokens
    seed: int

    def text(self, w: "Weights") -> dict:
        """The arguments every trace of the page shares (model, vocab, prefix, length)."""
        return dict(model=w.model, vocab=w.vocab, prefix=self.prefix, length=self.length)

    @property
    def sampling(self) -> dict:
        """How the sampled trace draws (temperature, top-k, seed)."""
        return dict(temperature=self.temperature, top_k=self.top_k, seed=self.seed)

    def describe(self) -> str:
        k = f", top-k {self.top_k}" if self.top_k else ""
        return f"temperature {self.temperature:g}{k}, seed {self.seed}"


@dataclass
class Weights:
    run_id: str
    step: int
    model: torch.nn.Module
    vocab: object
    model_config: object


def weights(run: Run, refresh: bool) -> Weights:
    """A copy of the run's weights kept while the user plays with the controls; a new one
    when asked (`refresh`) or when the session's run changed."""
    kept = st.session_state.get("gen_weights")
    if refresh or kept is None or kept.run_id != run.run_id:
        torch.set_num_threads(1)  # per thread here: leave the other core to training
        step = run.steps_done
        model, vocab, cfg = run.copy_model()
        kept = st.session_state["gen_weights"] = Weights(run.run_id, step, model, vocab, cfg)
    return kept


def weights_caption(run: Run, w: Weights) -> None:
    mc = w.model_config
    live = " (still training: press Generate for newer weights)" if run.is_active else ""
    layers = f"{mc.num_layers} layer{'s' if mc.num_layers != 1 else ''}"
    st.caption(f"{plain(run.label)} · {LABELS.get(mc.cell, mc.cell)}, {layers} × hidden_size {mc.hidden_size} · "
               f"|V| = {len(w.vocab):,} ({len(w.vocab) - 1:,} distinct tokens + <unk>) · weights from step "
               f"{w.step:,}{live}")


def _ask_refresh() -> None:
    st.session_state[REFRESH_KEY] = True


def sampling_controls(run: Run, vocab_size: int) -> GenerateOptions:
    """Prefix, length, temperature, top-k and seed, in one form: moving a slider or an arrow key
    regenerates nothing until **Generate** (which also takes the run's newest weights)."""
    if "gen_prefix" not in st.session_state:
        st.session_state["gen_prefix"] = run.val_text(24)
    with st.form("gen_form", border=False):
        c = st.columns([3, 2, 2, 1, 1])
        cap = registry().limits.max_prefix_chars
        prefix = capped(c[0].text_area(f"Prefix (the model reads it first; at most {cap:,} characters)",
                                       key="gen_prefix", height=68, max_chars=cap),
                        cap, "The prefix", "PLAYGROUND_MAX_PREFIX_CHARS")
        length = c[1].slider("Length (characters to generate)", 10, 1000, 200, 10, key="gen_length")
        temperature = c[2].slider("Temperature (sampled only; < 1 sharper, > 1 flatter)", 0.1, 2.0, 0.8, 0.05,
                                  key="gen_temperature")
        top_k = top_k_used(c[3].number_input(f"Top-k (0 = all; at most |V| = {vocab_size})", value=0, step=1,
                                             key="gen_top_k"), vocab_size)
        seed = c[4].number_input("Seed", 0, 2**31 - 1, 0, key="gen_seed")
        st.form_submit_button("Generate", type="primary", on_click=_ask_refresh,
                              help="Generates with these settings and the run's newest weights.")
    return GenerateOptions(prefix=prefix, length=int(length), temperature=float(temperature),
                           top_k=int(top_k) or None, seed=int(seed))


def top_k_used(top_k: int, vocab_size: int) -> int:
    """The top-k that sampling uses (0 = all), with a note when the typed one is out of range."""
    if top_k < 0 or top_k > vocab_size:
        st.info(f"Top-k {top_k:,} is {'below 0' if top_k < 0 else f'more than the {vocab_size} tokens of |V|'}: "
                "it is ignored and every token is kept (the same as top-k 0).")
        return 0
    return int(top_k)


def show_text(title: str, trace: GenerationTrace) -> None:
    st.markdown(f"**{title}**")
    st.html(gv.text_html(trace))
    st.caption(f"{len(trace.tokens)} characters · mean surprise −log p(chosen) = "
               f"{gv.mean_surprise(trace):.2f} nats · orange = the model found that choice unlikely; "
               "hover a character for the candidates")


def step_inspector(traces: dict[str, GenerationTrace]) -> None:
    """Choose a step: each trace's top candidates there, side by side."""
    n = min(len(t.tokens) for t in traces.values())
    if n == 0:
        return
    step = st.slider("Step to inspect (character index in the generated text)", 0, n - 1, 0, key="gen_step")
    cols = st.columns(len(traces))
    for col, (name, tr) in zip(cols, traces.items()):
        col.markdown(f"**{name}**, step {step}: chose “{plain(gv.show_token(tr.tokens[step]))}”")
        col.dataframe(gv.candidates_frame(tr, step), hide_index=True, width="stretch", column_config={
            "probability": st.column_config.ProgressColumn("model probability", format="%.3f",
                                                           min_value=0.0, max_value=1.0)})


def clamp_controls(model_config) -> tuple[Clamp, bool]:
    """Layer, quantity, unit, zero-or-value and decoding. Returns (clamp, greedy)."""
    quantities = unit_quantities(model_config.cell)
    for key, options in (("gen_layer", list(range(model_config.num_layers))), ("gen_quantity", quantities)):
        if st.session_state.get(key) not in options:
            st.session_state.pop(key, None)  # a different model: forget the old choice
    c = st.columns([1, 2, 1, 2, 2, 1])
    layer = c[0].selectbox("Layer", list(range(model_config.num_layers)), key="gen_layer")
    quantity = c[1].selectbox("Quantity", quantities, key="gen_quantity",
                              format_func=lambda q: GATE_TITLES.get(q, q))
    unit = c[2].number_input(f"Unit (0–{model_config.hidden_size - 1})", 0, model_config.hidden_size - 1, 0,
                             key="gen_unit")
    mode = c[3].radio("Clamp", CLAMP_MODES, key="gen_clamp_mode", horizontal=True)
    low, high = (0.0, 1.0) if quantity in SIGMOID_GATES else (-3.0, 3.0)
    value = 0.0
    if mode == CLAMP_MODES[1]:
        value = c[4].slider(f"Value ({low:g} to {high:g})", low, high, high, 0.05, key=f"gen_value_{low:g}")
    decoding = c[5].radio("Decoding", DECODINGS, key="gen_decoding")
    return Clamp(int(layer), int(unit), float(value), quantity), decoding == "greedy"


def clamp_comparison(free: GenerationTrace, clamped: GenerationTrace) -> None:
    """Texts side by side, a note on what changed, and the watched unit's two traces."""
    c = st.columns(2)
    with c[0]:
        show_text("Without clamp", free)
    with c[1]:
        show_text(f"With {clamped.clamp.label()}", clamped)
    same = sum(a == b for a, b in zip(free.tokens, clamped.tokens))
    first = next((t for t, (a, b) in enumerate(zip(free.tokens, clamped.tokens)) if a != b), None)
    if first is None:
        st.info("The clamp did not change a single character: this unit matters little here. "
                "Try another unit, a larger value, or the unit the Hidden states page found.")
    else:
        st.caption(f"The texts part at step {first}; {same} of {len(free.tokens)} characters agree.")
    st.plotly_chart(gv.watch_figure(free, clamped), width="stretch", key="gen_watch_chart")
