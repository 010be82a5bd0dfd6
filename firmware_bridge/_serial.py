"""Serial ports as trio byte streams, shared by every serial driver.

pyserial configures the port (baud rate, raw mode, the exclusive lock) and the
bytes then move through a duplicate of its file descriptor as a trio `FdStream`,
so a slow or silent device never blocks the event loop. DTR and RTS are set low
*before* the port opens: on most devboards (ESP32, Arduino, many STM32 boards)
an edge on those lines resets the board, and opening the port must not.
"""

from __future__ import annotations

import errno
import logging
import os
import termios

import serial
import trio

from ._errors import PortError

logger = logging.getLogger(__name__)


class SerialStream(trio.abc.Stream):
    """A trio `Stream` over an open pyserial port (POSIX). `port` is the pyserial object."""

    def __init__(self, port: serial.Serial) -> None:
        self.port = port
        # pyserial's timeout=0 leaves VMIN=0/VTIME=0, with which Linux returns 0 bytes
        # from an idle tty even in non-blocking mode - indistinguishable from a hangup.
        # VMIN=1 makes "no data yet" EAGAIN and a hangup EOF/EIO.
        attrs = termios.tcgetattr(port.fileno())
        attrs[6][termios.VMIN], attrs[6][termios.VTIME] = 1, 0
        termios.tcsetattr(port.fileno(), termios.TCSANOW, attrs)
        self._fd = trio.lowlevel.FdStream(os.dup(port.fileno()))

    async def send_all(self, data) -> None:
        await self._fd.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self._fd.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        return await self._fd.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self._fd.aclose()
        self.port.close()


def _port_error(path: str, exc: serial.SerialException) -> PortError:
    text = str(exc)
    code = getattr(exc, "errno", None)
    if code == errno.ENOENT or not os.path.exists(path):
        return PortError(f"{path} does not exist: is the board plugged in? ({text})")
    if code == errno.EACCES:
        return PortError(f"no permission to open {path}: add the user to the 'dialout' "
                         f"group ({text})")
    if "exclusively lock" in text or code in (errno.EAGAIN, errno.EBUSY):
        return PortError(f"{path} is in use by another program (it is opened with "
                         f"exclusive access): {text}")
    return PortError(f"cannot open {path}: {text}")


def open_serial_port(path: str | os.PathLike, baudrate: int = 115200) -> serial.Serial:
    """Open `path` without resetting the board (DTR/RTS low) and with exclusive access."""
    path = os.fspath(path)
    port = serial.Serial()
    port.port = path
    port.baudrate = baudrate
    port.timeout = 0
    port.write_timeout = 0
    port.dtr = False  # set before open(): an edge on DTR/RTS resets many boards
    port.rts = False
    port.exclusive = True
    try:
        port.open()
    except serial.SerialException as exc:
        raise _port_error(path, exc) from None
    return port


async def open_serial_stream(path: str | os.PathLike, baudrate: int = 115200) -> SerialStream:
    """`open_serial_port` as a trio stream (the open itself is quick and local)."""
    port = open_serial_port(path, baudrate)
    logger.info("serial port open", extra={"port": os.fspath(path), "baudrate": baudrate})
    return SerialStream(port)
