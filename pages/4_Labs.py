"""Labs: every example of the source notes, small, runnable and explained.
/Labs?lab=<key> opens one lab directly; the picker keeps the URL in step."""
from playground import warmup; warmup.wait()  # noqa: E702  torch & co.: imported once, by the warm-up thread
import streamlit as st

from playground import ui
from playground.labs.registry import BY_KEY, LABS, get
from playground.ui import labs as ui_labs

ui.setup_page("Labs", "🧪")

PICK_KEY = "lab_pick"
keys = [lab.key for lab in LABS]
if PICK_KEY not in st.session_state:            # first run: the URL decides
    st.session_state[PICK_KEY] = get(st.query_params.get("lab")).key

with st.sidebar:
    key = st.radio("Lab", keys, format_func=lambda k: BY_KEY[k].title, key=PICK_KEY)
st.query_params["lab"] = key

st.title("🧪 Labs")
st.caption("Each lab is one example from the tutorial notes the app grew out of. It runs in "
           "seconds on the CPU; change a setting and it reruns. Pick a lab in the sidebar.")

lab = get(key)
ui_labs.header(lab)
ui_labs.render(lab)  # drawn by its module in playground/ui/labs/ (see RENDERERS)
ui_labs.show_source(lab)
