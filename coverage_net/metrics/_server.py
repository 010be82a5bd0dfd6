"""The metrics endpoint: Prometheus text over HTTP, served inside the process's trio loop.

Not prometheus_client's ``start_http_server`` thread: the collectors read live objects
when scraped (counters the process's tasks update, SQLite connections that belong to
the thread that opened them; `MessageStore` refuses any other). Served from the loop, a
scrape runs between two of the process's awaits, so it sees consistent counters and
uses the stores from their own thread. Each process has its own `CollectorRegistry`,
never the library's global one, so two nodes in one test process do not mix.

The server answers ``GET /metrics`` (and ``/``), one request per connection. A client
that does not finish its request within ``_REQUEST_S`` is dropped; a collector that
fails gives a 500 naming the error and is logged, and the process goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import partial
from urllib.parse import urlsplit

import trio
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.registry import Collector

from ._errors import MetricsServerError
from ._listen import format_listen, parse_metrics_listen

__all__ = ["metrics_registry", "serve_metrics"]

logger = logging.getLogger(__name__)

_MAX_HEAD_BYTES = 8192
_REQUEST_S = 10.0
"""How long a client may take to send its request and read the answer."""
_PATHS = ("/metrics", "/")


def metrics_registry(collectors: Iterable[Collector]) -> CollectorRegistry:
    """A private registry holding `collectors` (no process or platform collectors: the
    families are this project's own)."""
    registry = CollectorRegistry(auto_describe=False)
    for collector in collectors:
        registry.register(collector)
    return registry


async def serve_metrics(listen: str, collectors: Iterable[Collector], *,
                        setting: str = "metrics address",
                        task_status: trio.TaskStatus[tuple[str, int]]
                        = trio.TASK_STATUS_IGNORED) -> None:
    """Serve `collectors` on `listen` (``HOST:PORT``, port 0 for a free one) until
    cancelled; ``await nursery.start(serve_metrics, ...)`` returns the bound (host, port).

    `setting` is what a bad address is reported as (the option or configuration key;
    give it with `functools.partial`: ``nursery.start`` keeps keywords for itself).
    """
    host, port = parse_metrics_listen(listen, name=setting)
    registry = metrics_registry(collectors)
    listener = await _open_listener(host, port, listen, setting)
    bound_host, bound_port = listener.socket.getsockname()[:2]
    logger.info("metrics on http://%s/metrics", format_listen(bound_host, bound_port))
    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, partial(_answer, registry), [listener])
        task_status.started((bound_host, bound_port))


async def _open_listener(host: str, port: int, listen: str, setting: str
                         ) -> trio.SocketListener:
    """One listening socket on the first address `host` resolves to (so a free port is
    one port, not one per address family)."""
    try:
        infos = await trio.socket.getaddrinfo(host, port, type=trio.socket.SOCK_STREAM,
                                              flags=trio.socket.AI_PASSIVE)
        family, type_, proto, _, sockaddr = infos[0]
        sock = trio.socket.socket(family, type_, proto)
        try:
            sock.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_REUSEADDR, 1)
            await sock.bind(sockaddr)
            sock.listen(64)
        except BaseException:
            sock.close()
            raise
    except OSError as exc:
        raise MetricsServerError(f"{setting} {listen}: cannot listen there: "
                                 f"{exc.strerror or exc}") from exc
    return trio.SocketListener(sock)


async def _answer(registry: CollectorRegistry, stream: trio.SocketStream) -> None:
    try:
        async with stream:
            with trio.move_on_after(_REQUEST_S):
                head = await _read_head(stream)
                if head is not None:
                    await stream.send_all(_response(registry, head))
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # the client went away; nothing to tell it


async def _read_head(stream: trio.SocketStream) -> bytes | None:
    """The request's head (request line and headers); None if the client closed first."""
    data = b""
    while b"\r\n\r\n" not in data and b"\n\n" not in data:
        if len(data) > _MAX_HEAD_BYTES:
            return data[:_MAX_HEAD_BYTES]  # answered from its request line alone
        chunk = await stream.receive_some(4096)
        if not chunk:
            return data or None
        data += chunk
    return data


def _response(registry: CollectorRegistry, head: bytes) -> bytes:
    parts = head.split(b"\n", 1)[0].decode("latin-1").strip().split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        return _http(400, "Bad Request", b"not an HTTP request\n")
    method, target = parts[0], parts[1]
    if method not in ("GET", "HEAD"):
        return _http(405, "Method Not Allowed", b"only GET and HEAD\n",
                     extra=[("Allow", "GET, HEAD")])
    if urlsplit(target).path not in _PATHS:
        return _http(404, "Not Found", b"metrics are at /metrics\n")
    try:
        body = generate_latest(registry)
    except Exception as exc:  # one failing collector must not stop the process
        logger.exception("collecting metrics failed")
        return _http(500, "Internal Server Error",
                     f"collecting metrics failed: {type(exc).__name__}: {exc}\n".encode())
    return _http(200, "OK", body, content_type=CONTENT_TYPE_LATEST, head_only=method == "HEAD")


def _http(code: int, reason: str, body: bytes, *, content_type: str = "text/plain; "
          "charset=utf-8", extra: Iterable[tuple[str, str]] = (),
          head_only: bool = False) -> bytes:
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body))),
               ("Connection", "close"), *extra]
    head = f"HTTP/1.1 {code} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    return head.encode("latin-1") + b"\r\n" + (b"" if head_only else body)
