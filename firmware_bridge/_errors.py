"""Exceptions of `firmware_bridge`.

Every error a driver raises is a `BridgeError`. Device replies that refuse a
request map to `DeviceBusyError` / `InvalidParameterError` / `UnsupportedError`
/ `RadioFailureError`; silence maps to `DeviceTimeoutError`; a vanished device to
`DeviceDisconnectedError`. Malformed frames are never raised to the caller: the
decoder drops them and counts the reason (see `FrameDecoder.stats`).
"""

from __future__ import annotations

from coverage_net.radio import CoverageNetError


class BridgeError(CoverageNetError):
    """Base class of every error raised by `firmware_bridge`."""


class ConfigError(BridgeError, ValueError):
    """A RadioConfig value the radio cannot use (names the field and the range)."""


class FrameError(BridgeError, ValueError):
    """A frame that cannot be built (payload too long, field out of range)."""


class DeviceError(BridgeError):
    """The device refused or failed a request."""


class DeviceBusyError(DeviceError):
    """The device is busy (for example still transmitting); retry later."""


class InvalidParameterError(DeviceError, ValueError):
    """The device rejected a parameter of the request."""


class UnsupportedError(DeviceError):
    """The device does not support the request."""


class RadioFailureError(DeviceError):
    """The radio chip reported a failure."""


class DeviceTimeoutError(BridgeError, TimeoutError):
    """The device did not answer in time, after all retries."""


class DeviceDisconnectedError(BridgeError, ConnectionError):
    """The device went away (unplugged, port closed) and could not be reached again."""


class PortError(BridgeError, OSError):
    """A serial port cannot be opened (missing, busy, no permission)."""
