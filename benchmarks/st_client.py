"""A light client that speaks Streamlit's browser protocol, for load tests.

One `Session` is one browser tab: a websocket to /_stcore/stream carrying `BackMsg`s
(rerun_script with a ClientState) up and `ForwardMsg`s (new_session, navigation, deltas,
auto_rerun, script_finished, ...) down, all `streamlit.proto` protobufs. Like the browser it

- opens a page by name (`page_name="Train"`) with a query string, then reruns with the
  page_script_hash the server's `navigation` message names and the query string that
  `page_info_changed` last set (widgets bound to the URL live there);
- keeps the page as a tree of elements keyed by delta path; elements a finished run did not
  redraw are dropped (for a fragment run only that fragment's elements);
- presses a button by sending its widget id with trigger_value=True (with the fragment_id of a
  button drawn in a fragment, as the browser does), sets a select_slider
  by its shown option (string_array_value); other widgets keep their server-side values;
- follows `auto_rerun` (fragments with run_every) by rerunning that fragment_id with
  is_auto_rerun every `interval` seconds, forgets those timers when a full run starts or
  on `stop_auto_rerun`; a tick is skipped while this tab's previous rerun is still running
  (one rerun in flight per tab);
- remembers cacheable messages, reports their hashes in cached_message_hashes and
  substitutes `ref_hash` messages, as the browser's ForwardMsg cache does.

Elements are found by their label or text, never by position, so page-layout changes do
not break a load test. Uses `websockets`, a dependency of streamlit itself.
"""
from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field

import websockets
from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.Element_pb2 import Element
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

EARLY = ForwardMsg.FINISHED_EARLY_FOR_RERUN
STEP_TEXT = re.compile(r"step ([\d,]+) of ([\d,]+)")
TEXT_FIELDS = {"markdown": "body", "alert": "body", "progress": "text", "heading": "body",
               "text": "body", "code": "code_text", "exception": "message", "toast": "body",
               "html": "body"}
CACHE_RUNS = 4  # a cached message unused for this many runs is forgotten


def element_text(el: Element) -> str:
    """The text an element shows ("" for charts, widgets and layout)."""
    kind = el.WhichOneof("type")
    if kind == "metric":
        return f"{el.metric.label}: {el.metric.body}"
    if kind in TEXT_FIELDS:
        return getattr(getattr(el, kind), TEXT_FIELDS[kind])
    return ""


def error_text(el: Element) -> str | None:
    """The text of an exception element or of an error box that reports a failure."""
    kind = el.WhichOneof("type")
    if kind == "exception":
        return f"{el.exception.type}: {el.exception.message}"
    if kind == "alert" and el.alert.format == Alert.ERROR and re.search(r"Error|Traceback", el.alert.body):
        return el.alert.body
    return None


@dataclass
class Shown:
    element: Element
    fragment_id: str
    run: int  # the run counter when it was last drawn


@dataclass
class Page:
    """What the browser would show: elements by delta path, pruned after each run."""
    elements: dict[tuple, Shown] = field(default_factory=dict)
    run: int = 0
    errors: list[str] = field(default_factory=list)  # every error drawn, in order
    notices: set[str] = field(default_factory=set)   # distinct warning and error boxes drawn

    def start_run(self) -> None:
        self.run += 1

    def apply(self, msg: ForwardMsg) -> None:
        delta = msg.delta
        if delta.WhichOneof("type") != "new_element":
            return
        el = delta.new_element
        self.elements[tuple(msg.metadata.delta_path)] = Shown(el, delta.fragment_id, self.run)
        if (error := error_text(el)) is not None:
            self.errors.append(error)
        if el.WhichOneof("type") == "alert" and el.alert.format in (Alert.ERROR, Alert.WARNING):
            self.notices.add(el.alert.body)

    def finish_run(self, fragment_ids: list[str]) -> None:
        """Drop what this run did not redraw (a fragment run: only inside its fragments)."""
        def stale(s: Shown) -> bool:
            return s.run != self.run and (not fragment_ids or s.fragment_id in fragment_ids)
        self.elements = {p: s for p, s in self.elements.items() if not stale(s)}

    def find(self, kind: str, label: str, prefix: bool = False) -> Element | None:
        """The first (in page order) `kind` element whose label is `label` (or starts with it)."""
        shown = self.find_shown(kind, label, prefix)
        return shown.element if shown is not None else None

    def find_shown(self, kind: str, label: str, prefix: bool = False) -> Shown | None:
        """As `find`, with the fragment the element was drawn in."""
        for path in sorted(self.elements):
            el = self.elements[path].element
            if el.WhichOneof("type") == kind:
                shown = getattr(el, kind).label
                if shown == label or (prefix and shown.startswith(label)):
                    return self.elements[path]
        return None

    def texts(self) -> list[str]:
        return [t for p in sorted(self.elements) if (t := element_text(self.elements[p].element))]

    def step(self, fresh: bool = False) -> int | None:
        """The training step the page shows: the "step" metric or "step N of M" in a text.
        `fresh`: only if the run that just finished drew it (a chart fragment's run leaves the
        progress fragment's step as it was: read as "now", a rate from it came out up to ~40 % low)."""
        found = []
        for p in sorted(self.elements):
            if fresh and self.elements[p].run != self.run:
                continue
            el = self.elements[p].element
            if el.WhichOneof("type") == "metric" and el.metric.label == "step":
                found.append(int(el.metric.body.replace(",", "")))
            elif (m := STEP_TEXT.search(element_text(el))):
                found.append(int(m.group(1).replace(",", "")))
        return max(found) if found else None

    def number(self, label: str) -> float | None:
        """The value a number_input whose label starts with `label` shows."""
        el = self.find("number_input", label, prefix=True)
        if el is None:
            return None
        n = el.number_input
        return n.value if n.set_value else n.default


class ForwardCache:
    """The browser's ForwardMsg cache: cacheable messages by hash, forgotten when unused."""

    def __init__(self):
        self.messages: dict[str, tuple[ForwardMsg, int]] = {}
        self.run = 0
        self.misses = 0

    def add(self, msg: ForwardMsg) -> ForwardMsg:
        """Store a cacheable message; resolve a reference. None for an unknown reference."""
        if msg.ref_hash:
            hit = self.messages.get(msg.ref_hash)
            if hit is None:
                self.misses += 1
                return None
            full = ForwardMsg()
            full.CopyFrom(hit[0])
            full.metadata.CopyFrom(msg.metadata)  # delta path etc. come with the reference
            self.messages[msg.ref_hash] = (hit[0], self.run)
            return full
        if msg.metadata.cacheable and msg.hash:
            self.messages[msg.hash] = (msg, self.run)
        return msg

    def hashes(self) -> list[str]:
        self.run += 1
        self.messages = {h: v for h, v in self.messages.items() if self.run - v[1] <= CACHE_RUNS}
        return list(self.messages)


class Session:
    """One browser tab on one page of a Streamlit app."""

    def __init__(self, base_url: str, page_name: str, query_string: str = ""):
        self.base_url = base_url
        self.ws_url = base_url.replace("http", "ws", 1).rstrip("/") + "/_stcore/stream"
        self.page_name, self.query_string = page_name, query_string
        self.page_script_hash = ""
        self.page, self.cache = Page(), ForwardCache()
        self.widgets: dict[str, WidgetState] = {}   # values this tab set (not triggers)
        self.timers: dict[str, list[float]] = {}   # fragment_id -> [interval, next due]
        self.pending: list[float] = []             # send times of reruns not yet finished
        # (send -> script_finished, what sent it: a button's or slider's label, "poll" or "load")
        self.rerun_seconds: list[tuple[float, str]] = []
        self.pending_action = ""
        self.unanswered = 0  # reruns with no script_finished within 60 s
        self.step_samples: list[tuple[float, int]] = []  # (time, step shown) after each run
        self.script_runs: list[list[str]] = []  # each run the server started: its fragment ids ([]: whole page)
        self.page_not_found = False
        self.dropped: str | None = None  # why the socket closed when we did not close it
        self.idle = asyncio.Event()
        self._ws = None
        self._tasks: list[asyncio.Task] = []
        self._closing = False

    async def open(self, timeout: float = 60) -> float:
        """Connect, run the page, wait for its first run to finish. Returns the seconds taken."""
        t0 = time.monotonic()
        self._ws = await websockets.connect(self.ws_url, subprotocols=["streamlit"], max_size=None,
                                            ping_interval=None, open_timeout=timeout)
        self._tasks = [asyncio.create_task(self._reader()), asyncio.create_task(self._ticker())]
        await self.rerun()
        await self.wait_idle(timeout)
        return time.monotonic() - t0

    async def close(self) -> None:
        self._closing = True
        for t in self._tasks:
            t.cancel()
        if self._ws is not None:
            await self._ws.close()

    async def wait_idle(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self.idle.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    async def rerun(self, triggers: list[WidgetState] = (), fragment_id: str = "", auto: bool = False,
                    action: str = "") -> None:
        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string = self.query_string
        if self.page_script_hash:
            cs.page_script_hash = self.page_script_hash
        else:
            cs.page_name = self.page_name
        cs.widget_states.widgets.extend([*self.widgets.values(), *triggers])
        cs.fragment_id, cs.is_auto_rerun = fragment_id, auto
        cs.cached_message_hashes.extend(self.cache.hashes())
        cs.context_info.timezone = "UTC"
        cs.context_info.locale = "en-US"
        self.idle.clear()
        self.pending.append(time.monotonic())
        self.pending_action = action or ("poll" if auto else "load")
        await self._ws.send(msg.SerializeToString())

    async def click(self, label: str) -> bool:
        """Press the enabled button labelled `label`; False if there is none. A button drawn in a
        fragment reruns that fragment only, as in the browser."""
        shown = self.page.find_shown("button", label)
        if shown is None or shown.element.button.disabled:
            return False
        await self.rerun([WidgetState(id=shown.element.button.id, trigger_value=True)],
                         fragment_id=shown.fragment_id, action=label)
        return True

    async def choose(self, label: str, option: str) -> bool:
        """Set the select_slider labelled `label` to its option shown as `option`."""
        shown = self.page.find_shown("slider", label)
        if shown is None or shown.element.slider.disabled or option not in shown.element.slider.options:
            return False
        el = shown.element
        state = WidgetState(id=el.slider.id)
        state.string_array_value.data.append(option)
        self.widgets[el.slider.id] = state
        await self.rerun(fragment_id=shown.fragment_id, action=label)
        return True

    async def _reader(self) -> None:
        try:
            async for data in self._ws:
                msg = ForwardMsg()
                msg.ParseFromString(data)
                self._handle(msg)
        except websockets.ConnectionClosed as e:
            if not self._closing:
                self.dropped = f"connection closed: {e}"
        finally:
            if not self._closing and self.dropped is None:
                self.dropped = "connection closed by the server"
            self.idle.set()

    def _handle(self, msg: ForwardMsg) -> None:
        msg = self.cache.add(msg)
        if msg is None:
            return
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            self.page.start_run()
            self.script_runs.append(list(msg.metadata.run.fragment_ids))
            if not msg.metadata.run.fragment_ids:
                self.timers.clear()  # a full run registers its fragments' timers again
        elif kind == "navigation" and msg.navigation.page_script_hash:
            self.page_script_hash = msg.navigation.page_script_hash
        elif kind == "page_info_changed":
            self.query_string = msg.page_info_changed.query_string
        elif kind == "delta":
            self.page.apply(msg)
        elif kind == "auto_rerun":   # as the browser: a new interval replaces the fragment's timer
            fid, interval = msg.auto_rerun.fragment_id, msg.auto_rerun.interval
            if self.timers.get(fid, [None])[0] != interval:
                self.timers[fid] = [interval, time.monotonic() + interval]
        elif kind == "stop_auto_rerun":
            for fid in msg.stop_auto_rerun.fragment_ids:
                self.timers.pop(fid, None)
        elif kind == "page_not_found":
            self.page_not_found = True
        elif kind == "script_finished" and msg.script_finished != EARLY:
            self._finished(list(msg.metadata.run.fragment_ids))

    def _finished(self, fragment_ids: list[str]) -> None:
        now = time.monotonic()
        self.page.finish_run(fragment_ids)
        self.rerun_seconds += [(now - t, self.pending_action) for t in self.pending]
        self.pending = []
        if (step := self.page.step(fresh=True)) is not None:
            self.step_samples.append((now, step))
        self.idle.set()

    async def _ticker(self) -> None:
        """Fire due auto-rerun timers, one rerun in flight at a time."""
        while True:
            await asyncio.sleep(0.05)
            now = time.monotonic()
            if self.pending and now - self.pending[0] > 60:
                self.unanswered += len(self.pending)
                self.pending = []  # never answered (e.g. a fragment the server dropped)
                self.idle.set()
            for fid, timer in list(self.timers.items()):
                if now >= timer[1]:
                    timer[1] = now + timer[0]
                    if not self.pending:
                        await self.rerun(fragment_id=fid, auto=True)
