"""Compare runs: every run of this session, overlaid curves and a summary table."""
from playground import warmup; warmup.wait()  # noqa: E702  torch & co.: imported once, by the warm-up thread
import streamlit as st

from playground import compare, ui
from playground.figures import compare as compare_figures
from playground.ui.memory import render_memory_horizon

ui.setup_page("Compare runs", "📊")
st.title("📊 Compare runs")
st.caption("Every run you train in this session is kept here (with its settings and history) "
           "until you delete it. Select rows to overlay only those runs.")

with st.expander("RNN vs GRU vs LSTM in one click", expanded=not ui.session_runs()):
    render_memory_horizon()

runs = ui.session_runs()
if not runs:
    st.info("No runs yet: train one on the Train page. (The experiment above trains its own small "
            "networks; they are not listed here.)")
    st.stop()


def recall(run, step: int) -> float:
    """Long-range recall, cached per run; recomputed every 100 steps while a run trains."""
    cache = st.session_state.setdefault("recall_cache", {})
    key = (run.run_id, step - step % 100 if run.is_active else step)
    if key not in cache:
        cache[key] = compare.long_range_recall(run)
    return cache[key]


@st.fragment(run_every=2.0 if any(r.is_active for r in runs) else None)
def comparison() -> None:
    snaps = [r.snapshot() for r in runs]
    table = compare.summary_table(snaps)
    if any(r.corpus_key == "long_range" for r in runs):
        table[compare.RECALL_COLUMN] = [recall(r, s.step) for r, s in zip(runs, snaps)]
    event = st.dataframe(
        table, hide_index=True, on_select="rerun", selection_mode="multi-row", key="compare_table",
        column_config={
            "parameters": st.column_config.NumberColumn(format="localized"),
            "train perplexity (last 20)": st.column_config.NumberColumn(format="%.3f"),
            "val perplexity": st.column_config.NumberColumn(format="%.3f", help="exp(validation loss)"),
            "time (s)": st.column_config.NumberColumn(format="%.1f", help="Wall time spent training"),
            "tokens/s": st.column_config.NumberColumn(format="localized", help="Overall, evaluation included"),
            compare.RECALL_COLUMN: st.column_config.NumberColumn(
                format="%.2f", help="Long-range copy: share of held-out lines where the model's top guess "
                                    "after '=' is the letter from 34 steps earlier. 1/8 = guessing."),
        })
    chosen = event.selection.rows or list(range(len(snaps)))
    o = st.columns([1, 1, 2])
    metric = o[0].radio("Curve", ["loss", "perplexity"], horizontal=True, key="cmp_metric")
    log_y = o[1].toggle("log scale", key="cmp_log")
    smoothing = o[2].slider("smoothing", 0.0, 0.99, 0.6, 0.01, key="cmp_smoothing")
    st.plotly_chart(compare_figures.overlay_figure([snaps[i] for i in chosen], metric, smoothing, log_y),
                    key="compare_chart")
    st.download_button("Download this table (.csv)", table.to_csv(index=False), "runs.csv", "text/csv")
    if event.selection.rows and st.button(f"Delete the {len(event.selection.rows)} selected run(s)"):
        for i in event.selection.rows:
            ui.delete_run(snaps[i].run_id)
        st.rerun()


comparison()
