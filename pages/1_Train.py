"""Train page: pick a corpus and a model, train live, watch the curves and the samples."""
from playground import warmup; warmup.wait()  # noqa: E702  torch & co.: imported once, by the warm-up thread
import streamlit as st

from playground import ui
from playground.cells import LABELS
from playground.ui import live
from playground.ui import train as train_ui
from playground.ui.share import LinkCheck, instructor_banner

ui.setup_page("Train", "🏋️")
link = LinkCheck("train")  # before the widgets read the link
st.title("🏋️ Train a recurrent network, live")
instructor_banner(train_ui.SETTINGS)  # before the widgets, so hidden ones never flash into view
train_ui.apply_pending_settings()     # a loaded checkpoint's settings, before the widgets read them

with st.sidebar:
    st.header("Data")
    corpus_key, text = train_ui.corpus_picker()
    st.header("Model")
    model_config = train_ui.model_settings()
    st.header("Training")
    train_config, steps = train_ui.training_settings()
ui.limits_sidebar()
link.report(train_ui.SETTINGS, train_ui.url_labels())

if model_config is not None and text:
    params, vocab_size = train_ui.parameter_count(model_config, text, train_config.tokenizer if train_config else "char")
    st.caption(f"**{LABELS[model_config.cell]}**, {model_config.num_layers} layer(s) × "
               f"hidden_size {model_config.hidden_size}, "
               f"{'one-hot' if not model_config.embedding_dim else f'embedding_dim {model_config.embedding_dim}'} "
               f"input · vocabulary |V| = {vocab_size:,} · **{params:,} parameters**")

run = train_ui.controls(ui.current_run(), model_config, train_config, corpus_key, text, steps)
live.render(run)
if run is not None:
    st.caption("🔗 This page's address is your runs' link: reload it, open it in another tab or on "
               "another device (or show it on the projector) and you see and control the same runs.")

with st.expander("Save or resume a run"):
    train_ui.checkpoint_section(run, text, corpus_key)

with st.expander("Share these settings"):
    train_ui.share_section()
