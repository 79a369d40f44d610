"""The learner's name in the instructor's Room (optional; anonymous "learner 7" otherwise).

Session-state keys:
    display_name   the text input (what the learner typed, before it is cleaned)
"""
from __future__ import annotations

import streamlit as st

from playground import room
from playground.ui import owner_token, registry

NAME_KEY = "display_name"


def _save() -> None:
    name = room.clean_display_name(st.session_state.get(NAME_KEY, ""))
    st.session_state[NAME_KEY] = name
    registry().set_display_name(owner_token(), name)


def display_name_input() -> None:
    """A small text input: the name kept on this link's workspace (in the run store: every
    front and a restart keep it), shown in the Room as typed, never as markdown."""
    if NAME_KEY not in st.session_state:
        ws = registry().workspaces.get(owner_token())
        st.session_state[NAME_KEY] = getattr(ws, "display_name", "")
    st.text_input("Your name in the room (optional)", key=NAME_KEY, max_chars=room.MAX_NAME, on_change=_save,
                  placeholder="anonymous", help="What the instructor's Room page shows for this link's runs "
                  "(otherwise 'learner N'). Other learners never see it.")
