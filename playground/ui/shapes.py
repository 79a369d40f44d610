"""Streamlit helpers for the Shapes page: controls with seed presets, the headline shapes, the
four tabs (parameters, weight blocks, tensor layout, PyTorch code with the real run), the quiz,
and the trained model's weight heatmap. Session-state keys all start with "shp_"; the settings
are bound to the URL (shp_* parameters), so a link reproduces the inspector."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from playground import quiz, shapes
from playground.figures import shapes as shape_figures
from playground.ui.share import bound

DEFAULTS = dict(cell="LSTM", input_size=10, hidden_size=20, num_layers=2, bias=True,
                batch_first=False, bidirectional=False, proj_size=0, seq_len=5, batch_size=3)
PRESETS = {  # label -> settings; the first two are the seed notes' examples
    "nn.LSTM(10, 20, 2), input (5, 3, 10)": dict(DEFAULTS),
    "nn.RNN(10, 20, 2), input (5, 3, 10)": dict(DEFAULTS, cell="RNN"),
    "nn.LSTM(4, 3), input (2, 3, 4)": dict(DEFAULTS, input_size=4, hidden_size=3, num_layers=1,
                                           seq_len=2),
    "bidirectional GRU, batch_first": dict(DEFAULTS, cell="GRU", bidirectional=True,
                                           batch_first=True),
    "LSTM with proj_size=5": dict(DEFAULTS, proj_size=5, bidirectional=True),
}
SETTINGS = [f"shp_{name}" for name in DEFAULTS]  # the URL parameters / widget keys
LIMITS = dict(input_size=4096, hidden_size=2048, num_layers=8, seq_len=512, batch_size=512)
HELP = dict(input_size="features per time step of x", hidden_size="features in h (and c)",
            num_layers="stacked recurrent layers", seq_len="time steps T in the input",
            batch_size="sequences per batch B")


def _key(name: str) -> str:
    return f"shp_{name}"


def apply_settings(settings: dict) -> None:
    """Callback: write settings into the control widgets' session state."""
    for name, value in settings.items():
        st.session_state[_key(name)] = value


def controls() -> dict:
    """Sidebar: preset buttons and one widget per describe() argument; returns the settings."""
    for name, value in DEFAULTS.items():
        st.session_state.setdefault(_key(name), value)
    side = st.sidebar
    side.markdown("**Presets** (from the tutorial notes)")
    for i, (label, preset) in enumerate(PRESETS.items()):
        side.button(label, key=f"shp_preset_{i}", on_click=apply_settings, args=(preset,),
                    width="stretch")
    out = {"cell": _bound(side.radio, "cell", "cell", list(shapes.GATES), horizontal=True)}
    for name in ("input_size", "hidden_size", "num_layers"):
        out[name] = _bound(side.number_input, name, name, 1, LIMITS[name], help=HELP[name])
    out["proj_size"] = _bound(side.number_input, "proj_size", "proj_size (LSTM only; 0 = off)", 0,
                              LIMITS["hidden_size"], disabled=out["cell"] != "LSTM",
                              help="projects h to proj_size features; must be < hidden_size")
    if out["cell"] != "LSTM":
        out["proj_size"] = 0
    for name in ("bias", "batch_first", "bidirectional"):
        out[name] = _bound(side.checkbox, name, name)
    for name in ("seq_len", "batch_size"):
        out[name] = _bound(side.number_input, name, name, 1, LIMITS[name], help=HELP[name])
    return out


def _bound(widget, name: str, label: str, *args, **kwargs):
    """A control bound to the URL parameter shp_<name> (no persist: the defaults come back)."""
    return bound(widget, _key(name), label, *args, persist=False, **kwargs)


def describe_or_stop(settings: dict) -> shapes.ShapeReport:
    """describe(**settings), or an error message (and the page stops) for settings PyTorch refuses."""
    try:
        return shapes.describe(**settings)
    except ValueError as err:
        st.error(f"PyTorch would refuse these settings: {err}")
        st.stop()


def headline(desc: shapes.ShapeReport) -> None:
    """The constructor call and the shapes everyone asks about first, with their formulas."""
    st.code(f"rnn = {shapes.module_args(desc)}", language="python")
    m = st.columns(5)
    for col, name in zip(m, ("input", "output", "h_n")):
        col.metric(name, str(desc.tensor(name)), help=desc.tensor_formulas[name])
    m[3].metric("c_n", str(desc.c_n) if desc.c_n else "—",
                help=desc.tensor_formulas.get("c_n", "only LSTM has a cell state"))
    m[4].metric("parameters", f"{desc.total:,}", help="total number of learnable numbers")


def parameters_tab(desc: shapes.ShapeReport) -> None:
    st.dataframe(pd.DataFrame(shape_figures.parameter_rows(desc)), hide_index=True, width="stretch")
    st.markdown(shape_figures.total_markdown(desc))


def weight_blocks_tab(desc: shapes.ShapeReport) -> None:
    """One (layer, direction)'s weights as gate blocks; a click selects a block, whose trained
    values (when the session has a trained model) are shown below."""
    c1, c2 = st.columns(2)
    layer = c1.selectbox("layer", range(desc.num_layers), key="shp_block_layer")
    direction = c2.radio("direction", list(shapes.DIRECTIONS[:desc.num_directions]),
                         key="shp_block_direction", horizontal=True)
    st.markdown(shape_figures.gate_rows_markdown(desc))
    if (note := shape_figures.layer_input_note(desc, layer)):
        st.info(note)
    event = st.plotly_chart(shape_figures.weight_blocks_figure(desc, layer, direction),
                            key="shp_blocks", on_select="rerun", selection_mode="points")
    clicked = shape_figures.clicked_block(event, desc)
    if clicked:
        start, stop = shapes.weight_block(desc, *clicked)
        st.caption(f"Selected block: `{clicked[0]}[{start}:{stop}]` (gate {clicked[1]}); "
                   "its trained values are below when the session has a trained model.")
    st.markdown("#### Trained model's values")
    trained_weights(desc, clicked)


def tensor_layout_tab(desc: shapes.ShapeReport) -> None:
    st.markdown(shape_figures.layout_notes(desc))
    st.plotly_chart(shape_figures.tensors_figure(desc), key="shp_tensors")


def code_tab(desc: shapes.ShapeReport, settings: dict) -> None:
    st.code(shapes.pytorch_code(desc), language="python")
    real_run(desc, settings)


@st.cache_data(show_spinner="Running the module…", max_entries=32)
def _run_real(settings: dict) -> shapes.TensorShapes:
    """Build the real module for `settings` and run one forward pass (ValueError: too big)."""
    return shapes.run_real(shapes.describe(**settings))


def real_run(desc: shapes.ShapeReport, settings: dict) -> None:
    """The 'run it for real' button and its table; never shows a result for other settings."""
    if st.button("▶ Run it for real on the server", key="shp_run_real"):
        st.session_state["shp_real_for"] = settings
    if st.session_state.get("shp_real_for") != settings:
        st.caption("Press the button to build the module and run one forward pass.")
        return
    try:
        actual = _run_real(settings)
    except ValueError as err:
        st.warning(str(err))
        return
    rows = shapes.compare(desc, actual)
    ok = all(r["match"] for r in rows)
    (st.success if ok else st.error)(
        f"PyTorch agrees on all {len(rows)} shapes." if ok else "PyTorch disagrees on a shape!")
    st.dataframe(rows, hide_index=True, width="stretch")


def quiz_panel(desc: shapes.ShapeReport) -> None:
    """Hide one shape; the learner types a guess; say right or wrong and why."""
    st.session_state.setdefault("shp_quiz_seed", 0)
    if st.button("🎲 New question", key="shp_quiz_new"):
        st.session_state["shp_quiz_seed"] += 1
        st.session_state.pop("shp_quiz_answer", None)
    q = quiz.random_question(desc, st.session_state["shp_quiz_seed"])
    given = f"x of shape {desc.input}" if q.target != "input" else \
        f"seq_len={desc.seq_len}, batch_size={desc.batch_size}"
    st.markdown(f"`rnn = {shapes.module_args(desc)}` run on {given}.\n\n"
                f"**What is the shape of `{q.target}`?**")
    guess = st.text_input("your answer, e.g. (5, 3, 20)", key="shp_quiz_answer")
    if st.button("Check my answer", key="shp_quiz_check") or guess:
        right, message = quiz.check(q, guess)
        if right:
            st.success(message, icon="✅")
        else:
            st.error(message, icon="❌")


def _trained_rnn():
    """(rnn module, describe() of it, the whole model, its ModelConfig) for the session's
    trained model, or None."""
    from playground import ui

    current_run = getattr(ui, "current_run", None)
    run = current_run() if current_run else None
    if run is None:
        return None
    model, _vocab, config = run.copy_model()
    rnn = model.rnn
    desc = shapes.describe(
        rnn.mode, rnn.input_size, rnn.hidden_size, rnn.num_layers, bias=rnn.bias,
        batch_first=rnn.batch_first, bidirectional=rnn.bidirectional,
        proj_size=getattr(rnn, "proj_size", 0))
    return rnn, desc, model, config


def model_summary(model, config) -> None:
    """The trained model layer by layer (embedding, dropouts, rnn, head), counted from the
    formulas and checked against the model itself."""
    from playground.models import count_parameters

    summary = shapes.model_summary(config)
    real = count_parameters(model)
    st.markdown("**The whole model** (what the Train page trains: this page's inspector shows its rnn)")
    st.dataframe(summary["rows"], hide_index=True, width="stretch",
                 column_order=["layer", "module", "parameters", "formula", "note"])
    check = "✅ the same as the model's own count" if real == summary["total"] else f"❌ the model holds {real:,}"
    st.caption(f"Total **{summary['total']:,} parameters** = {summary['total_formula']} with V = "
               f"{config.vocab_size}, E = {config.embedding_dim}, H = {config.hidden_size}, "
               f"L = {config.num_layers}, I = {config.input_size}, D = {config.num_directions} · {check}"
               + (" · tied weights: one (V, E) tensor serves the embedding and the head." if config.tie_weights else ""))


def _differences(desc: shapes.ShapeReport, trained: shapes.ShapeReport) -> list[str]:
    keys = ("cell", "input_size", "hidden_size", "num_layers", "bias", "bidirectional",
            "proj_size")
    return [f"{k}: inspector {getattr(desc, k)}, trained {getattr(trained, k)}" for k in keys
            if getattr(desc, k) != getattr(trained, k)]


def trained_weights(desc: shapes.ShapeReport, clicked: tuple[str, str] | None) -> None:
    """Heatmap of one gate block of the trained model's weights (click a block or pick one)."""
    found = _trained_rnn()
    if found is None:
        st.info("No trained model in this session yet: train one on the Train page, then "
                "pick (or click) a weight block here to see its values.")
        return
    rnn, trained, model, config = found
    model_summary(model, config)
    diffs = _differences(desc, trained)
    if diffs:
        st.warning("The trained model's settings differ from the inspector's, so the heatmap "
                   "shows the trained model's own shapes (" + "; ".join(diffs) + ").")
        st.button("Set the inspector to the trained model's settings", key="shp_use_trained",
                  on_click=apply_settings,
                  args=({k: getattr(trained, k) for k in DEFAULTS if k not in ("seq_len", "batch_size")},))
    names = list(trained.parameters)
    if clicked and clicked[0] in names and st.session_state.get("shp_last_click") != clicked:
        st.session_state["shp_last_click"] = clicked
        st.session_state["shp_trained_param"], st.session_state["shp_trained_gate"] = clicked
    left, right = st.columns(2)
    name = left.selectbox("trained parameter", names, key="shp_trained_param")
    gates = [g for g, _, _ in trained.entry(name).row_blocks]
    if st.session_state.get("shp_trained_gate") not in gates:
        st.session_state["shp_trained_gate"] = gates[0]
    gate = right.selectbox("gate (row block)", gates, key="shp_trained_gate")
    start, stop = shapes.weight_block(trained, name, gate)
    values = getattr(rnn, name).detach()[start:stop].float().numpy()  # (H, in) or (H,)
    title = f"trained {name}[{start}:{stop}] — gate {gate}, shape {tuple(values.shape)}"
    st.plotly_chart(shape_figures.weight_heatmap(values, title, start), key="shp_heatmap")
