"""Train page: pick a corpus and a model, train live, watch the curves and the samples."""
from playground import warmup; warmup.wait()  # noqa: E702  torch & co.: imported once, by the warm-up thread
import streamlit as st

from playground import ui
from playground.ui import learner, live
from playground.ui import run_controls
from playground.ui import train as train_ui
from playground.ui.share import LinkCheck, instructor_banner

ui.setup_page("Train", "🏋️")
link = LinkCheck("train")  # before the widgets read the link
st.title("🏋️ Train a recurrent network, live")
instructor_banner(train_ui.SETTINGS)  # before the widgets, so hidden ones never flash into view
run = ui.current_run()
if train_ui.sync_sidebar(run):        # the run on screen's settings, before the widgets read them
    link.params = {}                  # the run's settings win over the link's

with st.sidebar:
    st.header("Data")
    text = train_ui.corpus_picker()
    st.header("Model")
    model_config = train_ui.model_settings()
    st.header("Training")
    train_config, steps = train_ui.training_settings(text.text)
ui.limits_sidebar()
with st.sidebar:
    learner.display_name_input()
link.report(train_ui.SETTINGS, train_ui.url_labels())

setup = run_controls.Setup.of(model_config, train_config, text, steps)
run = run_controls.pending_action(run, setup)   # a Start/Continue/New run/Step click, with this sidebar
run_controls.header(run, setup)
run = run_controls.controls(run, setup)
live.render(run, read_only=not train_ui.in_control())
if run is not None:
    st.caption("🔗 This page's address is your runs' link: reload it, open it in another tab or on "
               "another device (or show it on the projector) and you see the same runs. Add `&view=1` "
               "for a read-only projector view.")

# Built only while open: a live page's reruns (every poll of a room of learners) skip them.
if (box := ui.lazy_expander("Save or resume a run", "save_open")) is not None:
    with box:
        train_ui.checkpoint_section(run, text, run_controls.checkpoint_run)

if (box := ui.lazy_expander("Share these settings", "share_open")) is not None:
    with box:
        train_ui.share_section()
