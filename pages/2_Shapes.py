"""Shapes: every weight and tensor of nn.RNN / nn.LSTM / nn.GRU, from the formulas,
checked against PyTorch on demand."""
from playground import warmup; warmup.wait()  # noqa: E702  torch & co.: imported once, by the warm-up thread
import streamlit as st

from playground import ui
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
desc = ui_shapes.describe_or_stop(settings)  # PyTorch's refusal as a message, then stop

if st.toggle("Quiz mode: hide the shapes and ask me one", key="shp_quiz_mode"):
    ui_shapes.quiz_panel(desc)
    st.stop()

ui_shapes.headline(desc)  # the constructor call; input, output, h_n, c_n, parameters

tab_params, tab_blocks, tab_tensors, tab_code = st.tabs(
    ["Parameters", "Weight blocks", "Tensor layout", "PyTorch code"])
with tab_params:
    ui_shapes.parameters_tab(desc)
with tab_blocks:
    ui_shapes.weight_blocks_tab(desc)
with tab_tensors:
    ui_shapes.tensor_layout_tab(desc)
with tab_code:
    ui_shapes.code_tab(desc, settings)
