"""Compare runs: every run of this session, overlaid curves and a summary table."""
from playground import warmup; warmup.wait()  # noqa: E702  torch & co.: imported once, by the warm-up thread
import streamlit as st

from playground import compare, corpora, ui

ui.setup_page("Compare runs", "📊")
st.title("📊 Compare runs")
st.caption("Every run you train in this session is kept here (with its settings and history) "
           "until you delete it. Select rows to overlay only those runs.")

with st.expander("RNN vs GRU vs LSTM in one click", expanded=not ui.session_runs()):
    st.markdown(f"Trains the three cells with the same size, seed and batches on **Long-range copy** — "
                f"{corpora.CORPORA['long_range'].description} The table's *recall accuracy* says how often "
                "each model's top guess after '=' is the right letter (1/8 is guessing). In our runs "
                "(hidden_size 64, 2,000 steps) the GRU reached 0.3–0.4 with seed 0, but only 0.14–0.23 "
                "by 3,000 steps with seeds 1 and 2, while the plain RNN and the LSTM stayed near 1/8 "
                "(0.11–0.18). Carrying one letter across 32 random digits is hard at this size: gating "
                "makes it possible, but finding out how to use it takes many steps — and some luck. "
                "Try more steps, or other seeds.")
    c = st.columns(3)
    hidden_size = c[0].number_input("hidden_size", 8, 512, 64, key="cmp_hidden_size")
    steps = c[1].number_input("Steps each", 50, 20_000, 2000, step=50, key="cmp_steps",
                              help="The cells only start to differ in recall after about 1,500 steps.")
    seed = c[2].number_input("seed", 0, 2**31 - 1, 0, key="cmp_seed")
    if st.button("Train all three", type="primary"):
        text = corpora.load("long_range")
        try:
            for cfg in compare.comparison_configs(int(hidden_size)):
                ui.create_run(cfg, compare.comparison_train_config(int(seed)), text, "long_range",
                              f"{cfg.cell} h{cfg.hidden_size} · long-range", active=cfg.cell == "LSTM").start(int(steps))
            st.toast("Training 3 runs: all runs on this server take turns, so each moves at once.")
        except ValueError as e:
            st.error(f"Could not start: {e}")

runs = ui.session_runs()
if not runs:
    st.info("No runs yet: train one on the Train page, or press **Train all three** above.")
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
    st.plotly_chart(compare.overlay_figure([snaps[i] for i in chosen], metric, smoothing, log_y),
                    key="compare_chart")
    st.download_button("Download this table (.csv)", table.to_csv(index=False), "runs.csv", "text/csv")
    if event.selection.rows and st.button(f"Delete the {len(event.selection.rows)} selected run(s)"):
        for i in event.selection.rows:
            ui.delete_run(snaps[i].run_id)
        st.rerun()


comparison()
