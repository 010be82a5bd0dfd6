"""The peer-to-peer layer (layer 4): libp2p host, gossip, sync, discovery.

A `Peer` runs a py-libp2p host (Noise only, yamux then mplex, TCP), gossipsub with
the spec's parameters on one topic per message type, per-topic validators that
check size, decoding and signature only, discovery by bootstrap addresses and
mDNS, a sync protocol that repairs whatever gossip lost, and request/response
between peers (`Libp2pRequests`, dialing by peer id from an `AddressBook`). Every message is
stored once, by content id, before it is acted on.
"""

from ._addrbook import ADDRESS_SOURCES, AddressBook
from ._discovery import parse_bootstrap, read_blocklist
from ._errors import (
    DialError,
    P2PError,
    PeerConfigError,
    RequestError,
    RequestHandlerError,
    SyncError,
)
from ._gossip import GOSSIP_PROTOCOLS, GossipParams
from ._metrics import REJECT_REASONS, PeerMetrics
from ._peer import STATUS_FILENAME, Peer, PeerConfig, wall_clock_ms
from ._reqresp import (
    PING_LIMITS,
    PING_PROTOCOL,
    REQUEST_ERROR_KINDS,
    REQUEST_OUTCOMES,
    FrameError,
    Handler,
    Libp2pRequests,
    ProtocolLimits,
    encode_frame,
    ping_handler,
    read_frame,
)
from ._sync import IDS_PAGE, MAX_GET_IDS, SYNC_PROTOCOL, answer_sync_request
from ._topics import EPOCH_LENGTH_MS, TOPIC_PREFIX, TOPICS, epoch_of, topic_of, type_of_topic
from ._validate import Verdict, check_gossip_payload

__all__ = [
    # errors
    "P2PError", "PeerConfigError", "SyncError", "RequestError", "RequestHandlerError", "DialError",
    # the peer
    "Peer", "PeerConfig", "GossipParams", "PeerMetrics", "STATUS_FILENAME", "wall_clock_ms",
    "GOSSIP_PROTOCOLS", "SYNC_PROTOCOL", "IDS_PAGE", "MAX_GET_IDS", "REJECT_REASONS",
    "answer_sync_request",
    # request/response
    "Libp2pRequests", "ProtocolLimits", "Handler", "AddressBook", "ADDRESS_SOURCES",
    "PING_PROTOCOL", "PING_LIMITS", "ping_handler", "REQUEST_OUTCOMES", "REQUEST_ERROR_KINDS",
    "FrameError", "read_frame", "encode_frame",
    # topics and checks
    "TOPICS", "TOPIC_PREFIX", "EPOCH_LENGTH_MS", "topic_of", "epoch_of", "type_of_topic",
    "check_gossip_payload", "Verdict",
    # discovery
    "parse_bootstrap", "read_blocklist",
]
