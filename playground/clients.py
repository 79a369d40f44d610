"""Who a browser session is, for the fair share between people (playground/scheduler.py).

    client_key(ip, forwarded_for="", trusted_proxies=0, fallback="")   # -> "ip:203.0.113.7"

A client is a network address: every tab and every link opened from one machine is one person
(ten links get one person's share, and one cap on runs training at once). Streamlit gives the
WebSocket peer's address (`st.context.ip_address`; None on localhost). Behind a balancer
(HAProxy, nginx) every peer is the balancer, so with PLAYGROUND_TRUST_PROXY=N (N balancers in
front of the app, usually 1) the address is the N-th entry from the right of X-Forwarded-For:
the one our own balancer appended. Entries further left come from the browser and could be
forged, so they are never used. Without an address (localhost, or a balancer not trusted) the
fallback (the link's workspace token) identifies the client: each link is its own client, as on
a laptop with one person.
"""
from __future__ import annotations

import ipaddress


def trusted_proxies(env: dict) -> int:
    """PLAYGROUND_TRUST_PROXY: how many balancers in front of the app append X-Forwarded-For
    (0, the default: the header is ignored)."""
    raw = str(env.get("PLAYGROUND_TRUST_PROXY", "")).strip()
    return int(raw) if raw.isdigit() else 0


def forwarded_address(forwarded_for: str, trusted: int) -> str | None:
    """The address `trusted` balancers vouch for: the `trusted`-th X-Forwarded-For entry from the
    right (None if there are fewer entries, or it is not an IP address)."""
    hops = [h.strip() for h in (forwarded_for or "").split(",") if h.strip()]
    if trusted < 1 or len(hops) < trusted:
        return None
    return _valid_ip(hops[-trusted])


def _valid_ip(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        return None


def client_key(ip: str | None, forwarded_for: str = "", trusted: int = 0, fallback: str = "") -> str:
    """The client's key: "ip:<address>" (the balancer's word when trusted, else the peer's),
    else "link:<fallback>"."""
    address = forwarded_address(forwarded_for, trusted) if trusted else None
    address = address or (_valid_ip(ip) if ip else None)
    return f"ip:{address}" if address else f"link:{fallback}"
