"""Lab 10, n-gram probability: a phrase's probability as a product of counted factors."""
from __future__ import annotations

import streamlit as st

from playground.labs import ngram
from playground.labs.registry import Lab
from playground.ui.labs.common import run_with_status, wkey


def render(lab: Lab) -> None:
    c1, c2 = st.columns([3, 1])
    phrase = c1.text_input("words (1 to 6)", ngram.DEFAULT_PHRASE, key=wkey(lab, "phrase"))
    n = c2.slider("n (n-gram)", 1, 6, 3, key=wkey(lab, "n"), help="3: the seed's trigram")
    try:
        r = run_with_status(lab, phrase=phrase, n=n)
    except ValueError as err:
        st.error(str(err))
        return
    words = r["words"]
    st.latex(_chain_latex(words, n))
    st.dataframe(r["factors"].style.format({"p": "{:.4g}"}), hide_index=True, width="stretch")
    st.metric(f"P({' '.join(words)}) with n = {n}", f"{r['probability']:.4g}",
              help=f"product of the p column; counts from {r['corpus_words']:,} words of the "
                   "PyTorch docstrings corpus")
    st.caption(f"The same phrase for every n (n = {len(words)} is the exact chain rule on "
               "these counts):")
    st.dataframe(r["by_n"].style.format({"P(phrase)": "{:.4g}"}), hide_index=True)


def _chain_latex(words: list[str], n: int) -> str:
    """P(w1..wk) = Π P(w_i | last n-1 words) with the words filled in."""
    w = [rf"\text{{{x}}}" for x in words]
    factors = [f"P({w[i]}" + (" \\mid " + ", ".join(w[max(0, i - n + 1):i]) if i and n > 1 else "")
               + ")" for i in range(len(w))]
    sign = "=" if n >= len(words) else r"\approx"
    return f"P({', '.join(w)}) {sign} " + " ".join(factors)
