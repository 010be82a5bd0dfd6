"""py-libp2p's network notifee interface, reduced to the one event the peer uses."""

from __future__ import annotations

from collections.abc import Callable

import multiaddr
from libp2p.abc import INetConn, INetStream, INetwork, INotifee

__all__ = ["OnConnected"]


class OnConnected(INotifee):
    """Calls ``callback(conn)`` for every new connection, inbound or outbound.

    py-libp2p's `INotifee` has six abstract events; everything here wants only this
    one, so the other five are no-ops in one place.
    """

    def __init__(self, callback: Callable[[INetConn], None]) -> None:
        self._callback = callback

    async def connected(self, network: INetwork, conn: INetConn) -> None:
        self._callback(conn)

    async def disconnected(self, network: INetwork, conn: INetConn) -> None:
        pass

    async def opened_stream(self, network: INetwork, stream: INetStream) -> None:
        pass

    async def closed_stream(self, network: INetwork, stream: INetStream) -> None:
        pass

    async def listen(self, network: INetwork, multiaddr: multiaddr.Multiaddr) -> None:
        pass

    async def listen_close(self, network: INetwork, multiaddr: multiaddr.Multiaddr) -> None:
        pass
