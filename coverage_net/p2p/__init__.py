"""The peer-to-peer layer (layer 4): the network seam and the actors above it.

Below the seam (`Network`): a py-libp2p host (Noise, yamux, TCP, gossipsub with
the spec's parameters and content-id message ids, request/response streams,
bootstrap/mDNS discovery, a blocklist) in `open_libp2p_network`, and an
in-memory network for deterministic tests in `coverage_net.p2p.testing`.
Above it, the same code over both: `GossipService` (validate, store once,
notify subscribers, publish), `SyncService` (repair what gossip lost, bounded
cost per round), the status writer and the blocklist watcher. Every message is
stored once, by content id, before anyone acts on it.
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
from ._gossip_service import GossipService, Incoming
from ._libp2p_network import open_libp2p_network, parse_listen_addr
from ._metrics import REJECT_REASONS, PeerMetrics
from ._network import (
    PING_LIMITS,
    PING_PROTOCOL,
    GossipCallback,
    Network,
    ProtocolLimits,
    RequestHandler,
    gossip_id,
    ping_handler,
)
from ._reqresp import (
    REQUEST_ERROR_KINDS,
    REQUEST_OUTCOMES,
    FrameError,
    Libp2pRequests,
    encode_frame,
    read_frame,
)
from ._services import P2PServices, start_services
from ._status import STATUS_FILENAME, StatusWriter, watch_blocklist
from ._sync import (
    IDS_PAGE,
    MAX_GET_IDS,
    RECENT_PARTITIONS,
    SYNC_PROTOCOL,
    SyncService,
    answer_sync_request,
)
from ._topics import TOPIC_PREFIX, TOPICS, topic_of, type_of_topic
from ._validate import Verdict, check_gossip_payload

__all__ = [
    # errors
    "P2PError", "PeerConfigError", "RequestError", "RequestHandlerError", "DialError",
    "SyncError",
    # the seam
    "Network", "ProtocolLimits", "GossipCallback", "RequestHandler", "gossip_id",
    "open_libp2p_network", "GossipParams", "GOSSIP_PROTOCOLS",
    "PING_PROTOCOL", "PING_LIMITS", "ping_handler",
    # request/response and addresses on py-libp2p
    "Libp2pRequests", "AddressBook", "ADDRESS_SOURCES", "REQUEST_OUTCOMES",
    "REQUEST_ERROR_KINDS", "FrameError", "read_frame", "encode_frame",
    # the actors
    "GossipService", "Incoming", "SyncService", "StatusWriter", "watch_blocklist",
    "P2PServices", "start_services", "PeerMetrics", "REJECT_REASONS", "STATUS_FILENAME",
    "SYNC_PROTOCOL", "IDS_PAGE", "MAX_GET_IDS", "RECENT_PARTITIONS", "answer_sync_request",
    # topics and checks
    "TOPICS", "TOPIC_PREFIX", "topic_of", "type_of_topic", "check_gossip_payload", "Verdict",
    # discovery
    "parse_bootstrap", "parse_listen_addr", "read_blocklist",
]

