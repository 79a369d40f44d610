"""Compare runs: every run of this link, a summary table and overlaid curves."""
from playground import warmup; warmup.wait()  # noqa: E702  torch & co.: imported once, by the warm-up thread
import streamlit as st

from playground import export, ui
from playground.ui import compare as compare_ui
from playground.ui.memory import render_memory_horizon

ui.setup_page("Compare runs", "📊")
st.title("📊 Compare runs")
st.caption("Every run you train with this link is kept here (with its settings, history and last "
           "checkpoint, also across server restarts) until you delete it, or "
           f"{ui.registry().limits.keep_days:g} days after the link was last opened. "
           "Select rows to overlay only those runs.")

with st.expander("RNN vs GRU vs LSTM in one click", expanded=not ui.session_runs()):
    render_memory_horizon()

runs = ui.session_runs()
if not runs:
    st.info("No runs yet: train one on the Train page. (The experiment above trains its own small "
            "networks; they are not listed here.)")
    st.stop()

st.download_button("Download all my runs (.zip)", data=lambda: export.workspace_zip(runs), icon="📦",
                   file_name="rnn-playground-runs.zip", mime="application/zip", on_click="ignore",
                   key="workspace_zip", help="Every run's checkpoint (the Train page resumes it) and "
                                             "metrics CSV, with a README of what is inside.")


@st.fragment(run_every=2.0 if any(r.is_active for r in runs) else None)
def comparison() -> None:
    snaps = [r.snapshot() for r in runs]
    table, selected = compare_ui.runs_table(runs, snaps)
    compare_ui.overlay([snaps[i] for i in (selected or range(len(snaps)))])
    st.download_button("Download this table (.csv)", table.to_csv(index=False), "runs.csv", "text/csv")
    compare_ui.delete_button(snaps, selected)


comparison()
