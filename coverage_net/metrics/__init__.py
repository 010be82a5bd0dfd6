"""Prometheus metrics of the coverage-net processes.

Each process serves its own registry on an HTTP endpoint inside its trio loop
(`serve_metrics`), filled by collectors that read the process's live objects when
scraped (`PeerCollector`, `ConsensusCollector`, `FinalityCollector`, `PocCollector`,
`VerdictCollector`, `RewardsCollector`). The listen address is ``HOST:PORT``
(`parse_metrics_listen`); port 0 picks a free port, which the process logs and
writes into its status file.
"""

from ._collectors import (
    FINALITY_BUCKETS_S,
    ConsensusCollector,
    FinalityCollector,
    PeerCollector,
    PocCollector,
    RewardsCollector,
    VerdictCollector,
)
from ._errors import MetricsAddressError, MetricsError, MetricsServerError
from ._listen import DEFAULT_METRICS_LISTEN, format_listen, parse_metrics_listen
from ._server import metrics_registry, serve_metrics

__all__ = [
    "DEFAULT_METRICS_LISTEN", "FINALITY_BUCKETS_S", "ConsensusCollector", "FinalityCollector",
    "MetricsAddressError", "MetricsError", "MetricsServerError", "PeerCollector",
    "PocCollector", "RewardsCollector", "VerdictCollector", "format_listen",
    "metrics_registry", "parse_metrics_listen", "serve_metrics",
]
