"""Room (instructor): the whole class at once, and the tools to run it. Opened with the key the
instructor set (PLAYGROUND_INSTRUCTOR_KEY); shows nothing of anyone's runs without it."""
from playground import warmup; warmup.wait()  # noqa: E702  torch & co.: imported once, by the warm-up thread
import streamlit as st

from playground import ui
from playground.ui import room as room_ui

ui.setup_page("Room (instructor)", "🧑‍🏫", runs=False)  # the instructor has no runs of their own here
st.title("🧑‍🏫 The room")
if not room_ui.unlocked():
    st.stop()
room_ui.lock_button()

room_ui.live_room()

st.header("Run the class")
with st.expander("Build an exercise link for the projector", expanded=True):
    room_ui.exercise_link()
with st.expander("Broadcast a message to every learner's page", expanded=True):
    room_ui.broadcast_box()
room_ui.export_button()
