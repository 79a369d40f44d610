"""Shapes: every weight and tensor of nn.RNN / nn.LSTM / nn.GRU, from the formulas,
checked against PyTorch on demand."""
from playground import warmup; warmup.wait()  # noqa: E702  torch & co.: imported once, by the warm-up thread
import pandas as pd
import streamlit as st

from playground import shapes, shapes_view, ui
from playground.ui import shapes as ui_shapes
from playground.ui.share import LinkCheck, instructor_banner

ui.setup_page("Shapes", "📐")
link = LinkCheck("shapes")  # before the widgets read the link

st.title("📐 Shapes of RNN, LSTM and GRU")
st.caption("Pick a cell and its settings in the sidebar. Every number below comes from the "
           "shape formulas; the PyTorch tab runs the real module to check them.")
instructor_banner(ui_shapes.SETTINGS)  # before the widgets, so hidden ones never flash into view
settings = ui_shapes.controls()
link.report(ui_shapes.SETTINGS)
try:
    desc = shapes.describe(**settings)
except ValueError as err:
    st.error(f"PyTorch would refuse these settings: {err}")
    st.stop()

quiz_mode = st.toggle("Quiz mode: hide the shapes and ask me one", key="shp_quiz_mode")
if quiz_mode:
    ui_shapes.quiz_panel(desc)
    st.stop()

st.code(f"rnn = {shapes.module_args(desc)}", language="python")
m = st.columns(5)
m[0].metric("input", str(desc["input"]), help=desc["tensor_formulas"]["input"])
m[1].metric("output", str(desc["output"]), help=desc["tensor_formulas"]["output"])
m[2].metric("h_n", str(desc["h_n"]), help=desc["tensor_formulas"]["h_n"])
m[3].metric("c_n", str(desc["c_n"]) if desc["c_n"] else "—",
            help=desc["tensor_formulas"].get("c_n", "only LSTM has a cell state"))
m[4].metric("parameters", f"{desc['total']:,}", help="total number of learnable numbers")

tab_params, tab_blocks, tab_tensors, tab_code = st.tabs(
    ["Parameters", "Weight blocks", "Tensor layout", "PyTorch code"])

with tab_params:
    table = pd.DataFrame([{
        "name": e["name"], "shape": str(e["shape"]), "elements": e["numel"],
        "shape formula": e["formula"],
        "row blocks (gate: rows)": "  ".join(f"{g}: {a}–{b - 1}" for g, a, b in e["row_blocks"]),
    } for e in desc["details"]])
    st.dataframe(table, hide_index=True, width="stretch")
    symbols = ", ".join(f"{k}={v}" for k, v in desc["symbols"].items()
                        if k != "P" or desc["proj_size"])
    st.markdown(f"**Total parameters: {desc['total']:,}**  \n"
                f"`{desc['total_formula']}` = `{desc['total_numbers']}` with {symbols}  \n"
                "(I = input_size, H = hidden_size, L = num_layers, D = num_directions"
                + (", P = proj_size" if desc["proj_size"] else "") + ")")

with tab_blocks:
    c1, c2 = st.columns(2)
    layer = c1.selectbox("layer", range(desc["num_layers"]), key="shp_block_layer")
    direction = c2.radio("direction", ["forward", "backward"][:desc["num_directions"]],
                         key="shp_block_direction", horizontal=True)
    gate_names = ", ".join(f"{g} = {shapes.GATE_MEANINGS[g]}" for g in desc["gates"])
    st.markdown(f"Rows are stacked gate by gate ({gate_names}); each block has hidden_size = "
                f"{desc['hidden_size']} rows. `weight_ih` multiplies the layer's input, "
                "`weight_hh` the previous hidden state.")
    if layer > 0:
        r = "proj_size" if desc["proj_size"] else "hidden_size"
        st.info(f"Layer {layer} reads the output of layer {layer - 1}, not x: its input has "
                f"num_directions·{r} = {desc['num_directions']}·{desc['real_hidden']} = "
                f"{desc['num_directions'] * desc['real_hidden']} features"
                + (" (forward half then backward half, split by the dashed line)."
                   if desc["bidirectional"] else "."))
    event = st.plotly_chart(shapes_view.weight_blocks_figure(desc, layer, direction),
                            key="shp_blocks", on_select="rerun", selection_mode="points")
    points = (event or {}).get("selection", {}).get("points", []) if event else []
    clicked = tuple(points[0]["customdata"]) if points and points[0].get("customdata") else None
    if clicked and clicked[0] in desc["parameters"]:
        start, stop = shapes.weight_block(desc, *clicked)
        st.caption(f"Selected block: `{clicked[0]}[{start}:{stop}]` (gate {clicked[1]}); "
                   "its trained values are below when the session has a trained model.")
    st.markdown("#### Trained model's values")
    ui_shapes.trained_weights(desc, clicked)

with tab_tensors:
    R, D, L, B = desc["real_hidden"], desc["num_directions"], desc["num_layers"], \
        desc["batch_size"]
    notes = [f"`h_n.view({L}, {D}, {B}, {R})[layer, direction]` is `h_n[layer·{D} + "
             "direction]`: index 0 is layer 0 forward" + (", 1 layer 0 backward." if D == 2 else ".")]
    if D == 2:
        notes.append(f"`output[..., :{R}]` is the forward direction and `output[..., {R}:]` the "
                     f"backward one (`output.view(*output.shape[:2], 2, {R})`). The forward half "
                     f"at the last time step equals `h_n[{(L - 1) * 2}]`; the backward half at "
                     f"t=0 equals `h_n[{(L - 1) * 2 + 1}]`.")
    notes.append("batch_first=True swaps the first two axes of input and output only; "
                 "h0, h_n, c0, c_n stay (num_layers·num_directions, batch, feature)."
                 + (" (on now)" if desc["batch_first"] else ""))
    st.markdown("\n".join(f"- {n}" for n in notes))
    st.plotly_chart(shapes_view.tensors_figure(desc), key="shp_tensors")

with tab_code:
    st.code(shapes.pytorch_code(desc), language="python")
    ui_shapes.real_run(desc, settings)
