"""Errors of `coverage_net.p2p`: one base class, one subclass per kind of failure."""

from __future__ import annotations

__all__ = ["P2PError", "PeerConfigError", "SyncError", "RequestError", "RequestHandlerError",
           "DialError"]


class P2PError(Exception):
    """Base class of every error raised by `coverage_net.p2p`."""


class PeerConfigError(P2PError, ValueError):
    """A peer setting is unusable: a bad multiaddr, a missing /p2p/ id, a bad number."""


class SyncError(P2PError):
    """A sync exchange with another peer failed or the peer answered out of protocol."""


class RequestError(P2PError):
    """A request to another peer failed; ``kind`` says how (see `Libp2pRequests.request`)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class RequestHandlerError(P2PError):
    """Raised by a request handler to refuse a request; its message goes back to the asker."""


class DialError(P2PError):
    """No address of a peer could be dialed (none known, all refused, or too slow)."""
