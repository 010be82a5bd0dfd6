"""Identify again the connected peers whose identify never completed.

py-libp2p runs identify once per new connection, and gives up for good when the
connection is slow to settle (5 s), the stream fails to open or the answer takes
over 10 s: on a loaded machine, at start-up, that happens. The peerstore then lists
no protocol for that peer for as long as the connection lasts, so nothing that
asks "does this peer serve X" (`Network.supports`, which sync relies on) ever
talks to it. Seen in the testnet: a hotspot whose announcement went out before it
had a connection was never synced from, so the validators never knew it.

`reidentify_peers` is the repair: every ``interval_s`` it looks for connected
peers with no protocol known for at least ``after_s`` and runs identify with each
of them once more (the identify protocol's own exchange: read the peer's
`Identify` message and fold it into the peerstore, as py-libp2p does).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio
from libp2p.identity.identify.identify import ID as IDENTIFY_PROTOCOL
from libp2p.identity.identify.pb.identify_pb2 import Identify
from libp2p.identity.update import update_peerstore_from_identify
from libp2p.peer.id import ID
from libp2p.utils.varint import read_length_prefixed_protobuf

__all__ = ["REIDENTIFY_AFTER_S", "identify_peer", "known_protocols", "reidentify_peers"]

logger = logging.getLogger(__name__)

REIDENTIFY_AFTER_S = 3.0
"""A connected peer with no protocol known this long is identified again."""
_INTERVAL_S = 1.0
_TIMEOUT_S = 10.0
_MAX_WAIT_S = 60.0


def known_protocols(host, peer: ID) -> list[str]:
    """The protocols identify recorded for ``peer`` (empty: never identified)."""
    try:
        return list(host.get_peerstore().get_protocols(peer))
    except Exception:  # not in the peerstore (yet)
        return []


async def identify_peer(host, peer: ID, *, timeout_s: float = _TIMEOUT_S) -> bool:
    """Run identify with ``peer`` once; whether its protocols are now known."""
    with trio.move_on_after(timeout_s):
        try:
            stream = await host.new_stream(peer, [IDENTIFY_PROTOCOL])
        except Exception as exc:  # py-libp2p raises several kinds; all mean "not now"
            logger.info("identify with %s: no stream (%s)", peer, exc)
            return False
        try:
            data = await read_length_prefixed_protobuf(stream, use_varint_format=True)
            message = Identify()
            message.ParseFromString(data)
            await update_peerstore_from_identify(host.get_peerstore(), peer, message)
        except Exception as exc:
            logger.info("identify with %s failed: %s", peer, exc)
            return False
        finally:
            with trio.move_on_after(1.0):
                try:
                    await stream.close()
                except Exception:  # already reset by the other side
                    pass
    return bool(known_protocols(host, peer))


async def reidentify_peers(host, connected: Callable[[], list[ID]], *,
                           after_s: float = REIDENTIFY_AFTER_S,
                           interval_s: float = _INTERVAL_S) -> None:
    """Identify again, until cancelled, every connected peer left unidentified (module doc).
    A peer that still does not answer waits twice as long before the next try (at most
    `_MAX_WAIT_S`), so one that never will costs little."""
    due: dict[ID, tuple[float, float]] = {}  # peer -> (next try, wait after a failure)
    while True:
        await trio.sleep(interval_s)
        now = trio.current_time()
        peers = connected()
        for gone in set(due) - set(peers):
            del due[gone]
        for peer in peers:
            if known_protocols(host, peer):
                due.pop(peer, None)
                continue
            when, wait = due.setdefault(peer, (now + after_s, after_s))
            if now < when:
                continue
            if await identify_peer(host, peer):
                logger.info("identified %s again (its first identify had failed)", peer)
                due.pop(peer, None)
            else:
                wait = min(wait * 2, _MAX_WAIT_S)
                logger.info("identify with %s failed again; next try in %.0f s", peer, wait)
                due[peer] = (trio.current_time() + wait, wait)
