"""Devices on real pseudo-terminals: how the simulator's virtual devboards reach a host.

Product code (the radio simulator serves its devboards this way); driver tests
use it too, with the fakes of `firmware_bridge.testing` behind it.

A `PtyDevice` runs a sans-IO device (anything with `receive(data) -> bytes` and
`poll() -> bytes`) on the master side of a pty, in a thread of its own, so the
driver under test opens an ordinary serial port path and cannot tell it from a
USB devboard. The port is published under a stable symlink: `unplug()` closes
the pty (the driver sees the port vanish mid-stream), `replug()` makes a new pty
and points the same path at it, as a re-enumerated USB device does.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import threading
import tty
from pathlib import Path
from typing import Protocol

logger = logging.getLogger(__name__)


class SansIODevice(Protocol):
    def receive(self, data: bytes) -> bytes:
        """Bytes from the host in; bytes for the host out (may be empty)."""

    def poll(self) -> bytes:
        """Unsolicited output due now (received packets, delayed replies)."""


def open_raw_pty() -> tuple[int, int, str]:
    """(master fd, slave fd, slave path) of a new pty, both ends in raw mode."""
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    return master, slave, os.ttyname(slave)


class PtyDevice:
    """A sans-IO device served on a pty; the host opens `path`.

    Use as a context manager. `poll_interval_s` bounds how late unsolicited
    output (RX events) can be.
    """

    def __init__(self, device: SansIODevice, link_path: str | os.PathLike,
                 *, poll_interval_s: float = 0.002, chunk: int = 4096) -> None:
        self.device = device
        self.path = Path(link_path)
        self._poll_s = poll_interval_s
        self._chunk = chunk
        self._master = self._slave = -1
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._write_lock = threading.Lock()
        self.bytes_in = 0
        self.bytes_out = 0

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> PtyDevice:
        self._master, self._slave, slave_path = open_raw_pty()
        tmp = self.path.with_name(self.path.name + ".new")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(slave_path)
        os.replace(tmp, self.path)  # atomic re-point, as udev does
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"pty-device {self.path.name}")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        for fd in (self._master, self._slave):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._master = self._slave = -1

    def unplug(self) -> None:
        """The device vanishes: its pty closes and the path dangles."""
        self.stop()
        self.path.unlink(missing_ok=True)

    def replug(self) -> None:
        """The device comes back, on a new pty, at the same path."""
        self.start()

    def __enter__(self) -> PtyDevice:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.unplug()

    # -- I/O ----------------------------------------------------------------------------
    def inject(self, data: bytes) -> None:
        """Write raw bytes to the host, bypassing the device (garbage, partial frames)."""
        self._write(data)

    def _write(self, data: bytes) -> None:
        with self._write_lock:
            view = memoryview(data)
            while view:
                try:
                    n = os.write(self._master, view)
                except BlockingIOError:
                    select.select([], [self._master], [], 0.05)
                    continue
                self.bytes_out += n
                view = view[n:]

    def _run(self) -> None:
        master = self._master
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([master], [], [], self._poll_s)
            except (OSError, ValueError):
                return
            if ready:
                try:
                    data = os.read(master, self._chunk)
                except OSError as exc:
                    if exc.errno in (errno.EIO, errno.EBADF):  # host side closed: wait
                        self._stop.wait(self._poll_s)
                        continue
                    raise
                self.bytes_in += len(data)
                out = self.device.receive(data)
                if out:
                    self._write(out)
            out = self.device.poll()
            if out:
                try:
                    self._write(out)
                except OSError:
                    logger.debug("pty write failed", extra={"path": str(self.path)})
