"""Compare runs page: the link's runs in one table, their curves overlaid, delete selected."""
from __future__ import annotations

import streamlit as st

from playground import compare, ui
from playground.figures import compare as compare_figures

COLUMNS = {
    "parameters": st.column_config.NumberColumn(format="localized"),
    "train perplexity (last 20)": st.column_config.NumberColumn(format="%.3f"),
    "val perplexity": st.column_config.NumberColumn(format="%.3f", help="exp(validation loss)"),
    "time (s)": st.column_config.NumberColumn(format="%.1f", help="Time spent training (its turns only)"),
    "tokens/s": st.column_config.NumberColumn(format="localized", help="Overall, evaluation included"),
    compare.RECALL_COLUMN: st.column_config.NumberColumn(
        format="%.2f", help="Long-range copy: share of held-out lines where the model's top guess "
                            "after '=' is the letter from 34 steps earlier. 1/8 = guessing."),
}


FORMATS = {"train perplexity (last 20)": "{:.3f}", "val perplexity": "{:.3f}", "time (s)": "{:.1f}",
           "tokens/s": "{:,.0f}", "parameters": "{:,}", compare.RECALL_COLUMN: "{:.2f}"}   # empty cells: "—"


@st.cache_resource(max_entries=64, show_spinner=False)
def _recall(run_id: str, step: int, _run) -> float:
    """Long-range recall of a run at a step (recomputed every 100 steps while it trains)."""
    return compare.long_range_recall(_run)


def runs_table(runs: list, snaps: list):
    """The summary table (with recall for long-range runs) and the rows the user selected."""
    table = compare.summary_table(snaps)
    if any(r.corpus_key == "long_range" for r in runs):
        table[compare.RECALL_COLUMN] = [
            _recall(r.run_id, s.step - s.step % 100 if r.is_active else s.step, r) for r, s in zip(runs, snaps)]
    event = st.dataframe(table.style.format({k: f for k, f in FORMATS.items() if k in table}, na_rep="—"), hide_index=True, on_select="rerun",
                         selection_mode="multi-row", key="compare_table", column_config=COLUMNS)
    return table, event.selection.rows


def overlay(snaps: list) -> None:
    o = st.columns([1, 1, 2])
    metric = o[0].radio("Curve", ["loss", "perplexity"], horizontal=True, key="cmp_metric")
    log_y = o[1].toggle("log scale", key="cmp_log")
    smoothing = o[2].slider("smoothing", 0.0, 0.99, 0.6, 0.01, key="cmp_smoothing")
    st.plotly_chart(compare_figures.overlay_figure(snaps, metric, smoothing, log_y), key="compare_chart")


def delete_button(snaps: list, rows: list[int]) -> None:
    """Delete the selected runs, after a confirm step (a deleted run cannot come back)."""
    ids = tuple(snaps[i].run_id for i in rows)
    names = ", ".join(snaps[i].label for i in rows)
    if not ids:
        return
    if st.session_state.get("cmp_confirm_delete") != ids:
        st.button(f"Delete the {len(ids)} selected run{'s' if len(ids) != 1 else ''}…", key="cmp_delete",
                  on_click=st.session_state.__setitem__, args=("cmp_confirm_delete", ids))
        return
    st.warning(f"Delete {names}? Their weights and curves are gone for good (download a checkpoint on "
               "the Train page first to keep one).")
    c = st.columns([1, 1, 4])
    if c[0].button("Yes, delete", type="primary"):
        for run_id in ids:
            ui.delete_run(run_id)
        st.session_state.pop("cmp_confirm_delete", None)
        st.rerun()
    c[1].button("Cancel", key="cmp_delete_no", on_click=st.session_state.pop, args=("cmp_confirm_delete", None))
