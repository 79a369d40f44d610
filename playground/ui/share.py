"""Links that reproduce a page's settings, notes on what a link got wrong, and instructor mode.

Settings widgets are bound to the URL (`bind="query-params"`): Streamlit fills them from the
link and drops values it cannot use. `LinkCheck` says which values were dropped, so a learner
knows the page is not showing what the link asked for.

Instructor mode: `?lock=cell,hidden_size` shows those controls disabled (fixed at the link's
values); `?hide=...` also hides them. Remembered for the session, so it survives page changes.
"""
from __future__ import annotations

import re
from typing import Callable
from urllib.parse import urlencode

import streamlit as st

LOCK, HIDE = "lock", "hide"
NOT_SETTINGS = (LOCK, HIDE, "w")   # w: the workspace link (playground.ui), not a setting
MAX_SHOWN = 40                     # characters of a bad link value echoed back
_STATE = "instructor_{}"


def _listed(name: str) -> set[str]:
    if name in st.query_params:
        st.session_state[_STATE.format(name)] = {k.strip() for k in st.query_params[name].split(",") if k.strip()}
    return st.session_state.get(_STATE.format(name), set())


def fixed(key: str) -> bool:
    """Whether an instructor's link fixed this control (locked or hidden)."""
    return key in _listed(LOCK) | _listed(HIDE)


def bound(widget: Callable, key: str, label: str, *args, disabled: bool = False,
          persist: bool = True, **kwargs):
    """A settings widget bound to the URL parameter `key` (also its widget key): a link fills
    it, an instructor's link can fix it, and (persist) it survives a visit to another page.

        hidden_size = bound(st.number_input, "hidden_size", "hidden_size", 1, 1024, 128)
    """
    if persist:
        kwargs["persist_state"] = "session"
    return widget(label, *args, key=key, disabled=disabled or fixed(key), bind="query-params",
                  **kwargs)


def instructor_banner(keys: list[str]) -> None:
    """Hide the controls a link asked to hide (CSS on Streamlit's `st-key-*` classes) and say
    what is fixed."""
    hidden, locked = _listed(HIDE) & set(keys), _listed(LOCK) & set(keys)
    if hidden:
        st.html("<style>" + "".join(f".st-key-{k} {{display: none !important;}}" for k in sorted(hidden))
                + "</style>")
    if hidden or locked:
        st.info("🔒 Instructor mode: " + ", ".join(sorted(hidden | locked)) + " fixed for this exercise.")


_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
_MARKDOWN = re.compile(r"([!-/:-@\[-`{-~])")   # every ASCII punctuation character


def plain(text, limit: int | None = None) -> str:
    """Text from a URL, a file name, an upload or a checkpoint, made safe to put inside
    st.markdown/st.warning/...: line breaks and control characters become spaces and every
    ASCII punctuation character is backslash-escaped (CommonMark), so it shows as typed and can
    never become a link, an image, HTML, a heading or a code span. `limit`: at most that many
    characters, then "… (N characters)".

        st.warning(f"Could not load {plain(upload.name)}")
    """
    text = _LINE_BREAKS.sub(" ", str(text))
    if limit is not None and len(text) > limit:
        return _MARKDOWN.sub(r"\\\1", text[:limit]) + f"… ({len(text):,} characters)"
    return _MARKDOWN.sub(r"\\\1", text)


def _short(text: str) -> str:
    """A link value as echoed back: at most MAX_SHOWN characters, shown as plain text."""
    return plain(text, MAX_SHOWN)


def _matches(raw: str, value, label: str | None) -> bool:
    if raw in (str(value), label):
        return True
    if isinstance(value, bool):
        return raw.lower() == str(value).lower()
    try:
        return float(raw) == float(value)
    except (TypeError, ValueError):
        return False


class LinkCheck:
    """Take the link's parameters before the widgets run; afterwards, report the ones ignored.

        check = LinkCheck("train")            # first thing on the page
        ...widgets...
        check.report(keys, labels)            # after the widgets
    """

    def __init__(self, page: str):
        flag = f"link_checked_{page}"
        self.params = {} if st.session_state.get(flag) else {k: st.query_params[k] for k in st.query_params}
        st.session_state[flag] = True

    def ignored(self, keys: list[str], labels: dict[str, Callable] | None = None) -> list[str]:
        labels = labels or {}
        out = []
        for key, raw in self.params.items():
            if key in NOT_SETTINGS:
                continue
            if key not in keys:
                out.append(f"“{_short(key)}” (not a setting of this page)")
                continue
            value = st.session_state.get(key)
            label = labels[key](value) if key in labels else None
            if not _matches(raw, value, label):
                out.append(f"{key}={_short(raw)} (not a valid value; kept {label or value!r})")
        return out

    def report(self, keys: list[str], labels: dict[str, Callable] | None = None) -> None:
        if bad := self.ignored(keys, labels):
            st.warning("Some settings in this link could not be used and were ignored: " + ", ".join(bad))


def share_link(path: str, values: dict, defaults: dict, lock: list[str], hide: list[str]) -> str:
    """A link to `path` with the non-default settings and the instructor's lock/hide lists."""
    params = {k: v for k, v in values.items() if v != defaults.get(k)}
    if lock:
        params[LOCK] = ",".join(lock)
    if hide:
        params[HIDE] = ",".join(hide)
    base = st.context.url.split("?")[0].rsplit("/", 1)[0] if st.context.url else ""
    return f"{base}/{path}" + (f"?{urlencode(params)}" if params else "")
