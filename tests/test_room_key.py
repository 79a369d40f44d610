"""The instructor's key: missing, wrong, right, rate limited, compared in constant time."""
from __future__ import annotations

import hmac

import pytest

from playground import instructor

KEY = "correct horse battery staple"


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_missing_key_means_the_room_is_off():
    gate = instructor.KeyGate()
    assert instructor.configured_key({}) == ""
    assert instructor.configured_key({instructor.ENV: "   "}) == ""
    attempt = gate.check("s", "", key="")
    assert not attempt.ok and "off" in attempt.message
    assert not gate.check("s", "anything", key="").ok
    assert instructor.ENV in instructor.HOW_TO_ENABLE


def test_wrong_key_refused_without_echo_and_right_key_accepted():
    gate = instructor.KeyGate()
    wrong = gate.check("s", "guess-123", key=KEY)
    assert not wrong.ok and "guess-123" not in wrong.message and KEY not in wrong.message
    assert not gate.check("s", KEY + " ", key=KEY).ok and not gate.check("s", KEY[:-1], key=KEY).ok
    assert gate.check("s", KEY, key=KEY).ok


def test_key_read_from_the_environment(monkeypatch):
    monkeypatch.setenv(instructor.ENV, KEY)
    assert instructor.KeyGate().check("s", KEY).ok
    monkeypatch.delenv(instructor.ENV)
    assert not instructor.KeyGate().check("s", KEY).ok


def test_five_wrong_tries_per_minute_per_session_then_even_the_right_key_waits():
    clock = Clock()
    gate = instructor.KeyGate(per_session=5, overall=100, window=60, clock=clock)
    for _ in range(5):
        assert gate.check("a", "nope", key=KEY).message == "That key is not right."
    limited = gate.check("a", KEY, key=KEY)
    assert not limited.ok and "try again in 60 s" in limited.message
    assert gate.check("b", KEY, key=KEY).ok            # another session is not limited by a's tries
    clock.t += 61
    assert gate.check("a", KEY, key=KEY).ok


def test_many_sessions_together_are_slowed_too():
    clock = Clock()
    gate = instructor.KeyGate(per_session=5, overall=20, window=60, clock=clock)
    for i in range(20):
        clock.t += 1
        assert not gate.check(f"s{i}", "nope", key=KEY).ok
    attempt = gate.check("fresh", KEY, key=KEY)
    assert not attempt.ok and "Too many" in attempt.message
    clock.t += 42                                      # the oldest failure (t=1001) leaves the window
    assert gate.wait_seconds("fresh") == 0 and gate.check("fresh", KEY, key=KEY).ok


def test_comparison_is_timing_safe(monkeypatch):
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(instructor.hmac, "compare_digest", spy)
    assert instructor.key_matches(KEY, KEY) and not instructor.key_matches("short", KEY)
    assert len(calls) == 2
    assert all(isinstance(a, bytes) and len(a) == len(b) == 32 for a, b in calls)   # digests: equal lengths


def test_fingerprint_does_not_reveal_the_key():
    fp = instructor.fingerprint(KEY)
    assert KEY not in fp and fp == instructor.fingerprint(KEY) and fp != instructor.fingerprint(KEY + "x")


@pytest.mark.parametrize("typed", ["", "a", KEY.upper()])
def test_near_misses_fail(typed):
    assert not instructor.key_matches(typed, KEY)
