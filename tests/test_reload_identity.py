"""A reload is the same browser, the projector is another: the XSRF cookie's token names a browser."""
import binascii
import os

from playground.ui.browser import Controllers, browser_id, token_bytes


def masked(token: bytes, mask: bytes) -> str:
    """A version-2 `_streamlit_xsrf` cookie as Streamlit writes it: 2|mask|token XOR mask (the
    4-byte mask repeated)|time."""
    body = bytes(a ^ mask[i % len(mask)] for i, a in enumerate(token))
    return f"2|{binascii.b2a_hex(mask).decode()}|{binascii.b2a_hex(body).decode()}|1764000000"


def test_a_cookie_streamlit_wrote_twice_for_one_browser_names_one_browser():
    """Two cookies Streamlit 1.67 set for one Chromium, before and after a reload."""
    first = "2|3b62aac7|3c3533c6b210a90e41ee2131cd0761ba|1795980383"
    second = "2|151d0cf8|124a95f99c6f0f316f91870ee378c785|1795980383"
    assert browser_id({"_streamlit_xsrf": first}) == browser_id({"_streamlit_xsrf": second}) is not None


def test_the_same_token_masked_twice_is_the_same_browser():
    token = os.urandom(16)
    first, second = masked(token, os.urandom(4)), masked(token, os.urandom(4))
    assert first != second                                           # the cookie text changes
    assert token_bytes(first) == token_bytes(second) == token
    assert browser_id({"_streamlit_xsrf": first}) == browser_id({"_streamlit_xsrf": second})
    assert browser_id({"_streamlit_xsrf": masked(os.urandom(16), os.urandom(4))}) != browser_id(
        {"_streamlit_xsrf": first})


def test_no_or_garbage_cookie_is_an_unknown_browser():
    assert browser_id({}) is None and browser_id(None) is None
    assert browser_id({"_streamlit_xsrf": "2|zz|yy|1"}) is None
    assert browser_id({"_streamlit_xsrf": "2||abcd|1"}) is None         # no mask


def test_the_id_does_not_reveal_the_token():
    token = os.urandom(16)
    bid = browser_id({"_streamlit_xsrf": masked(token, os.urandom(4))})
    assert binascii.b2a_hex(token).decode() not in bid and len(bid) == 16


def test_controllers_tell_the_acting_browser_from_another():
    c = Controllers(max_entries=2)
    assert c.is_other("w1", "A") is False                            # nobody claimed it yet
    c.claim("w1", "A")
    assert c.is_other("w1", "A") is False and c.is_other("w1", "B") is True
    assert c.is_other("w1", None) is None                            # unknown browser: the caller decides
    c.claim("w1", "B")                                               # the projector took control
    assert c.is_other("w1", "A") is True
    c.claim("w2", "A"), c.claim("w3", "A")                           # bounded: the oldest goes
    assert c.is_other("w1", "A") is False
