"""The peer-to-peer layer (layer 4): libp2p host, gossip, sync, discovery.

A `Peer` runs a py-libp2p host (Noise only, yamux then mplex, TCP), gossipsub with
the spec's parameters on one topic per message type, per-topic validators that
check size, decoding and signature only, discovery by bootstrap addresses and
mDNS, and a sync protocol that repairs whatever gossip lost. Every message is
stored once, by content id, before it is acted on.
"""

from ._discovery import parse_bootstrap, read_blocklist
from ._errors import P2PError, PeerConfigError, SyncError
from ._gossip import GOSSIP_PROTOCOLS, GossipParams
from ._metrics import REJECT_REASONS, PeerMetrics
from ._peer import STATUS_FILENAME, Peer, PeerConfig, wall_clock_ms
from ._sync import IDS_PAGE, MAX_GET_IDS, SYNC_PROTOCOL, answer_sync_request
from ._topics import TOPIC_PREFIX, TOPICS, partition_of, topic_of, type_of_topic
from ._validate import Verdict, check_gossip_payload

__all__ = [
    # errors
    "P2PError", "PeerConfigError", "SyncError",
    # the peer
    "Peer", "PeerConfig", "GossipParams", "PeerMetrics", "STATUS_FILENAME", "wall_clock_ms",
    "GOSSIP_PROTOCOLS", "SYNC_PROTOCOL", "IDS_PAGE", "MAX_GET_IDS", "REJECT_REASONS",
    "answer_sync_request",
    # topics and checks
    "TOPICS", "TOPIC_PREFIX", "topic_of", "partition_of", "type_of_topic",
    "check_gossip_payload", "Verdict",
    # discovery
    "parse_bootstrap", "read_blocklist",
]
