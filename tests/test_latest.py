"""playground.latest: the last result at once, newer versions computed in the background."""
import threading
import time

from playground.latest import Latest


def test_the_first_call_computes_later_calls_answer_at_once_and_refresh_in_the_background():
    latest, release, calls = Latest(), threading.Event(), []

    def slow(v):
        def compute():
            calls.append(v)
            if v > 1:
                release.wait(10)
            return f"result {v}"
        return compute

    assert latest.get("k", 1, slow(1)) == ("result 1", 1)
    # a newer version: the old result comes back while version 2 is computed on another thread
    assert latest.get("k", 2, slow(2)) == ("result 1", 1)
    assert latest.busy("k")
    assert latest.get("k", 3, slow(3)) == ("result 1", 1)   # one computation per key at a time
    release.set()
    deadline = time.monotonic() + 10
    while latest.busy("k") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert latest.get("k", 2, slow(2)) == ("result 2", 2)
    assert calls == [1, 2]


def test_wait_computes_the_asked_version_in_the_caller():
    latest = Latest()
    latest.get("k", 1, lambda: "a")
    assert latest.get("k", 5, lambda: "b", wait=True) == ("b", 5)


def test_a_failing_first_computation_raises_and_is_not_kept():
    latest = Latest()

    def bad():
        raise ValueError("empty text")
    try:
        latest.get("k", 1, bad)
    except ValueError:
        pass
    else:
        raise AssertionError("expected ValueError")
    assert latest.get("k", 1, lambda: "ok") == ("ok", 1)
