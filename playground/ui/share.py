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
JUST_SET = "settings_set_this_run"   # keys set_before_widgets wrote in this script run
OUT_OF_RANGE = "settings_out_of_range"  # {key: why} for number inputs typed outside their range


def _listed(name: str) -> set[str]:
    if name in st.query_params:
        st.session_state[_STATE.format(name)] = {k.strip() for k in st.query_params[name].split(",") if k.strip()}
    return st.session_state.get(_STATE.format(name), set())


def fixed(key: str) -> bool:
    """Whether an instructor's link fixed this control (locked or hidden)."""
    return key in _listed(LOCK) | _listed(HIDE)


def set_before_widgets(values: dict) -> None:
    """Put `values` into the settings widgets of this run (call before they are created, every
    run). Those widgets are then created without their default: a widget with a default whose
    key was set in the same run makes Streamlit log a warning with a stack trace."""
    for key, value in values.items():
        st.session_state[key] = value
    st.session_state[JUST_SET] = set(values)
    st.session_state[OUT_OF_RANGE] = {}   # filled again by this run's range-checked widgets


def _without_default(widget: Callable, args: tuple, kwargs: dict) -> tuple:
    """(args, kwargs) with the widget's default value left out (number_input/slider: the third
    positional argument; others: value= or index=)."""
    kwargs = {k: v for k, v in kwargs.items() if k not in ("value", "index")}
    name = getattr(widget, "__name__", "")
    if len(args) >= 3 and name in ("number_input", "slider"):
        args = (*args[:2], "min" if name == "number_input" else None, *args[3:])
    return args, kwargs


def _range_checked(widget: Callable, key: str, label: str, low, high, *args, **kwargs):
    """A number input without the browser's range check (a value typed outside it turns the box
    red and is never sent, so Start trained the previous value): the value is checked here,
    an error says what is allowed, out_of_range() lists it (Start stays disabled), and the
    nearest allowed value is returned."""
    if isinstance(low, int) and isinstance(high, int) and len(args) < 2:
        kwargs.setdefault("step", 1)                      # stays an int input without its bounds
    value = widget(label, None, None, *args, key=key, **kwargs)
    problems = st.session_state.setdefault(OUT_OF_RANGE, {})
    problems.pop(key, None)
    if value is None or low <= value <= high:
        return value
    problems[key] = f"{key} {value:,} is outside {low:,}…{high:,}"
    st.error(f"{problems[key]}: type a value in that range (Start waits until then).")
    return min(max(value, low), high)


def out_of_range(keys) -> list[str]:
    """Why typed numbers cannot be used (range_check widgets among `keys` shown this run)."""
    problems = st.session_state.get(OUT_OF_RANGE, {})
    return [problems[k] for k in keys if k in problems]


def bound(widget: Callable, key: str, label: str, *args, disabled: bool = False,
          persist: bool = True, range_check: bool = False, **kwargs):
    """A settings widget bound to the URL parameter `key` (also its widget key): a link fills
    it, an instructor's link can fix it, and (persist) it survives a visit to another page.

        hidden_size = bound(st.number_input, "hidden_size", "hidden_size", 1, 1024, 128)
    """
    if key in st.session_state.get(JUST_SET, ()):
        args, kwargs = _without_default(widget, args, kwargs)
    if persist:
        kwargs["persist_state"] = "session"
    if range_check:
        return _range_checked(widget, key, label, *args, disabled=disabled or fixed(key),
                              bind="query-params", **kwargs)
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


def capped(text: str, cap: int, what: str, variable: str) -> str:
    """`text` from a widget with max_chars=cap, with a note once it reaches the cap: Streamlit
    cuts longer input (the browser at typing or pasting, the server for any other client)
    without a word."""
    if len(text) >= cap:
        st.info(f"{what} is at this server's limit of {cap:,} characters ({variable}): anything "
                "longer is cut there.")
    return text[:cap]


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
