"""Change how often a fragment reruns (its `run_every`) without redrawing the whole page.

Streamlit sends a fragment's `auto_rerun` interval to the browser only when the page (or a
parent fragment) draws the fragment, so a live view that wants another polling interval used to
call `st.rerun()`: a whole-page run of ~70 elements. In a workshop's arrival ramp, every page did
that once when its run's first step came and again whenever the room grew enough to change the
refresh budgets' intervals (playground/refresh.py): thirty full page runs at the busiest moment.

The browser keeps one timer per fragment id and replaces it when an `auto_rerun` message with
another interval arrives (Streamlit 1.67's frontend, `handleAutoRerun`); the protocol client of
the benchmarks does the same. So a fragment may send, during its own run, the message Streamlit
would have sent for it: the same fragment id, a new interval. `retime` does that.

It reaches into Streamlit's script-run context; where that is missing (another Streamlit), it
returns False and the caller falls back to a whole-page rerun. `tests/test_live_polling.py` fails
first on such an upgrade (it counts the whole-page runs).
"""
from __future__ import annotations

import logging

_log = logging.getLogger("playground")

try:
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from streamlit.runtime.scriptrunner_utils.script_run_context import ThreadState, get_script_run_ctx
except ImportError:   # pragma: no cover - another Streamlit: callers fall back to st.rerun()
    ForwardMsg = ThreadState = get_script_run_ctx = None
    _log.warning("playground.ui.retime: this Streamlit lacks the script-run context it relies on; "
                 "live pages redraw whole to change their polling interval")


def current_fragment_id() -> str | None:
    """The id of the fragment whose code is running now (None outside a fragment)."""
    if ThreadState is None:
        return None
    try:
        return getattr(ThreadState.get(), "fragment_id", None)
    except RuntimeError:   # not on a script thread
        return None


def retime(fragment_id: str | None, seconds: float) -> bool:
    """From a script or fragment run of this session: the browser reruns fragment `fragment_id`
    every `seconds` from now on (replacing its timer). False where it could not be sent."""
    ctx = get_script_run_ctx(suppress_warning=True) if get_script_run_ctx else None
    if ctx is None or not fragment_id or seconds <= 0:
        return False
    msg = ForwardMsg()
    msg.auto_rerun.interval = float(seconds)
    msg.auto_rerun.fragment_id = fragment_id
    ctx.enqueue(msg)
    return True
