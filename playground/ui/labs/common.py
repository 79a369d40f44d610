"""What every lab's renderer shares: the cached run of `lab.run`, the header with what a lab
teaches, the source of the code that ran, widget keys and number formats."""
from __future__ import annotations

import inspect
import math

import pandas as pd
import streamlit as st
import torch

from playground.labs.registry import Lab, get


@st.cache_data(show_spinner=False, max_entries=64)
def run_lab(key: str, **settings):
    """`get(key).run(**settings)`, cached per lab and settings so reruns are instant."""
    torch.set_num_threads(1)   # 2 shared cores: one thread per session's lab run
    return get(key).run(**settings)


def run_with_status(lab: Lab, **settings):
    with st.spinner(f"Running {lab.title} …"):
        return run_lab(lab.key, **settings)


def header(lab: Lab) -> None:
    st.header(lab.title)
    st.markdown(f"**What it teaches.** {lab.teaches}")
    st.info(f"**What to notice.** {lab.notice}", icon="👀")


def show_source(lab: Lab) -> None:
    """The source of the functions this lab actually ran, like Streamlit's hello demo."""
    with st.expander("Show the code that ran", expanded=False):
        for obj in lab.sources():
            st.caption(f"`{obj.__module__}.{obj.__qualname__}`")
            st.code(inspect.getsource(obj), language="python")


def wkey(lab: Lab, name: str) -> str:
    """The widget key of setting `name` in `lab`: lab_<key>_<name>."""
    return f"lab_{lab.key}_{name}"


def fmt(v: float) -> str:
    return "∞" if math.isinf(v) else ("nan" if math.isnan(v) else f"{v:.4g}")


def largest(values) -> str:
    """The largest finite value, and whether the run later went to nan/inf."""
    finite = [v for v in values if math.isfinite(v)]
    text = fmt(max(finite)) if finite else "—"
    return text + (", then nan/inf" if len(finite) < len(values) else "")


def tensor_frame(t: torch.Tensor, prefix: str) -> pd.DataFrame:
    """(T, B, H) -> rows "t=.., b=.." and columns prefix[0..H-1]."""
    T, B, H = t.shape
    return pd.DataFrame(t.reshape(T * B, H).numpy(), columns=[f"{prefix}[{j}]" for j in range(H)],
                        index=[f"t={i} b={b}" for i in range(T) for b in range(B)])
