"""Lab 5, vocabulary builder: ids, min_freq and <unk>, our layout next to seed 004's."""
from __future__ import annotations

import streamlit as st

from playground.figures.labs import bar_figure
from playground.labs import vocab_lab
from playground.labs.registry import Lab
from playground.ui.labs.common import run_with_status, wkey


def render(lab: Lab) -> None:
    text = st.text_area("text", vocab_lab.SAMPLE_TEXT, height=100, key=wkey(lab, "text"))
    c1, c2, c3 = st.columns(3)
    level = c1.radio("tokens", ["word", "char"], horizontal=True, key=wkey(lab, "level"))
    min_freq = c2.slider("min_freq", 0, 5, 1, key=wkey(lab, "min_freq"))
    reserved = c3.multiselect("reserved tokens (ours: after <unk>)", vocab_lab.RESERVED_CHOICES,
                              default=list(vocab_lab.RESERVED_CHOICES), key=wkey(lab, "reserved"))
    try:
        r = run_with_status(lab, text=text, level=level, min_freq=min_freq,
                            reserved_tokens=tuple(reserved))
    except ValueError as err:
        st.error(str(err))
        return
    m = st.columns(4)
    m[0].metric("vocabulary size |V|", len(r["vocab"]))
    m[1].metric("tokens in the text", len(r["tokens"]))
    m[2].metric("tokens encoded as <unk>", r["unk_count"])
    m[3].metric("decode(encode(text)) == text", "yes" if r["round_trip"] else "no")
    freqs = r["freqs"]
    st.plotly_chart(bar_figure(freqs["token"], freqs["count"],
                               ["#4C78A8" if k else "#E45756" for k in freqs["kept"]],
                               "count (red: below min_freq → <unk>)"), key=wkey(lab, "freq"))
    left, right = st.columns(2)
    left.caption("id table: id → token")
    left.dataframe(r["table"], hide_index=True, height=300, width="stretch")
    right.caption("became <unk>: " + (", ".join(f"`{vocab_lab.visible(t)}`" for t in r["unk_tokens"])
                                      or "nothing"))
    right.markdown("**encoded** (first 40 ids)")
    right.code(str(r["ids"][:40]), language=None, wrap_lines=True)
    right.markdown("**decoded**")
    right.code(r["decoded"], language=None, wrap_lines=True)
    _vocab_side_by_side(r["seed"], bool(reserved))


def _vocab_side_by_side(seed: dict, special: bool) -> None:
    st.subheader("Our layout next to seed 004's Vocab")
    st.markdown(
        "Seed 004's Vocab (with `use_special_tokens=" + str(special) + "`) puts "
        + ("`<pad>, <bos>, <eos>, <unk>` at ids 0–3" if special else "`<unk>` at id 0")
        + " and then the tokens **in order of first appearance**. Ours (as a later edition of the "
        "d2l.ai book does) puts `<unk>` **first**, whatever reserved tokens are chosen, and "
        "sorts the tokens **by falling frequency**. Why ours: `<unk>` = 0 in every vocabulary "
        "(checkpoints check it), and frequent tokens get small ids. A model learns the same "
        "either way: only the ids, i.e. the order of the embedding rows, differ.")
    left, right = st.columns(2)
    left.caption(f"first ids; seed 004's unknown token is id {seed['seed_unk']}, ours id 0")
    left.dataframe(seed["layout"], hide_index=True, width="stretch")
    right.caption("the text's first tokens encoded by each")
    right.dataframe(seed["encoded"], hide_index=True, width="stretch")
