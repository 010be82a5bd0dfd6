"""The RN2483's ASCII line protocol: splitting the stream into lines, and matching replies.

The module's replies carry no id, so a reply is recognised by its form alone: each
command waits with a `Waiter` that accepts only the lines that command's reply can
be (these patterns). Kept apart from the driver so the driver reads as the
module's behaviour (start-up, reception, transmission, reconnection).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import trio

from ._errors import BridgeError

MAX_LINE_BYTES = 600  # "radio_rx  " + 255 bytes in hex, with room to spare

RX_LINE = re.compile(r"radio_rx\s+([0-9A-Fa-f]*)")
VERSION = re.compile(r"(RN\d{4})\w*\s+(\S+).*")
OK = re.compile(r"ok|invalid_param|busy")
NUMBER = re.compile(r"-?\d+|invalid_param|busy")
VERSION_REPLY = re.compile(rf"{VERSION.pattern}|invalid_param|busy")
TX_DONE = re.compile("radio_tx_ok|radio_err")


class Waiter:
    """One expected reply: the lines it accepts, and the outcome once it came."""

    def __init__(self, accepts: re.Pattern[str],
                 on_reply: Callable[[str], None] | None = None) -> None:
        self.accepts = accepts
        self.on_reply = on_reply
        self.done = trio.Event()
        self.reply: str | None = None
        self.error: BridgeError | None = None

    def offer(self, line: str) -> bool:
        if self.done.is_set() or self.accepts.fullmatch(line) is None:
            return False
        self.reply = line
        if self.on_reply is not None:
            self.on_reply(line)
        self.done.set()
        return True

    def fail(self, error: BridgeError) -> None:
        if not self.done.is_set():
            self.error = error
            self.done.set()


class LineLink:
    """One connection: its stream, its line buffer, and whether it is gone."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.lost = trio.Event()
        self.up = False  # start-up done: usable by callers
        self._buf = bytearray()
        self._skipping = False

    def feed(self, data: bytes) -> tuple[list[bytes], int]:
        """Complete lines in `data`, and how many over-long lines were discarded."""
        self._buf += data
        lines, overlong = [], 0
        while (i := self._buf.find(b"\n")) >= 0:
            line = bytes(self._buf[:i])
            del self._buf[:i + 1]
            if self._skipping:
                self._skipping = False
            else:
                lines.append(line)
        if len(self._buf) > MAX_LINE_BYTES:
            overlong += not self._skipping
            self._skipping = True
            self._buf.clear()
        return lines, overlong
