"""The metrics endpoint's listen address: ``HOST:PORT``, checked before anything opens.

The same text is given on the command line (``--metrics``) and, later, in the daemons'
TOML configuration, so the parser takes the name to report (the option or the key):
the user's one error line then says where the bad value came from.
"""

from __future__ import annotations

from ._errors import MetricsAddressError

__all__ = ["DEFAULT_METRICS_LISTEN", "format_listen", "parse_metrics_listen"]

DEFAULT_METRICS_LISTEN = "127.0.0.1:0"
"""Loopback, on a free port the process reports (log line and status file)."""


def parse_metrics_listen(text: str, *, name: str = "metrics address") -> tuple[str, int]:
    """``"HOST:PORT"`` (``"[::1]:PORT"`` for an IPv6 host) as ``(host, port)``.

    Port 0 asks the kernel for a free port. Any host is accepted: an operator who wants
    the endpoint off loopback says so by naming the address.
    """
    if not isinstance(text, str):
        raise MetricsAddressError(f"{name}: expected HOST:PORT as text, got {text!r}")
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not host:
        raise MetricsAddressError(f"{name}: {text!r} is not HOST:PORT "
                                  f"(e.g. {DEFAULT_METRICS_LISTEN} or 127.0.0.1:9100)")
    if host.startswith("["):
        if not host.endswith("]") or len(host) < 3:
            raise MetricsAddressError(f"{name}: {text!r}: an IPv6 host goes in brackets, "
                                      "e.g. [::1]:9100")
        host = host[1:-1]
    elif ":" in host:
        raise MetricsAddressError(f"{name}: {text!r}: put an IPv6 host in brackets, "
                                  "e.g. [::1]:9100")
    if any(c.isspace() or c in "[]/" for c in host):
        raise MetricsAddressError(f"{name}: {text!r}: {host!r} is not a host name or address")
    if not port_text.isascii() or not port_text.isdigit() or int(port_text) > 65535:
        raise MetricsAddressError(f"{name}: {text!r}: the port must be a number from 0 to "
                                  "65535 (0 picks a free one)")
    return host, int(port_text)


def format_listen(host: str, port: int) -> str:
    """The inverse of `parse_metrics_listen` (brackets around an IPv6 host)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
