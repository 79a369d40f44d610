"""One warm-up import of the heavy libraries per server process, in a background thread.

Importing torch takes 2-6 s on a busy 2-core server, and two sessions importing it for the
first time at once raced (docs/architecture.md). So nothing imports it at the top of app.py: the home
page starts this warm-up once it is drawn and never waits for it, and every other page calls
`wait()` first, before importing anything that imports torch. Only the warm-up thread ever
runs the first import; everyone else finds the modules loaded.

    start()  -> the warm-up thread (started on the first call, the same thread afterwards)
    wait()   -> start() and block until torch, pandas, plotly and the run registry are imported
"""
from __future__ import annotations

import functools
import importlib
import threading

# playground.runner last: it opens the run store, and runs that were training when the server
# stopped resume from the first page served after a restart (Home included), without a click
MODULES = ("torch", "pandas", "plotly.graph_objects", "playground.runner")
_START = threading.Lock()  # two sessions may call start() at the same moment


def _import_all(modules: tuple[str, ...], errors: list) -> None:
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as err:  # noqa: BLE001 - re-raised in the waiting page's thread
            errors.append(err)
            return


@functools.cache
def _thread(modules: tuple[str, ...]) -> tuple[threading.Thread, list]:
    errors: list = []
    thread = threading.Thread(target=_import_all, args=(modules, errors), name="playground-warmup", daemon=True)
    thread.start()
    return thread, errors


def start(modules: tuple[str, ...] = MODULES) -> threading.Thread:
    """Start importing `modules` in a daemon thread, once per process; return that thread."""
    with _START:
        return _thread(modules)[0]


def wait(modules: tuple[str, ...] = MODULES) -> None:
    """Block until the warm-up import is done (starting it if no page has yet). An import
    error is raised here, in the page, where Streamlit shows it, not lost in the thread."""
    thread = start(modules)
    thread.join()
    errors = _thread(modules)[1]
    if errors:
        raise errors[0]
