"""The radio hardware boundary (layer 2): one `Radio` interface, its drivers and frames."""

from ._errors import (
    BridgeError,
    ConfigError,
    DeviceBusyError,
    DeviceDisconnectedError,
    DeviceError,
    DeviceTimeoutError,
    FrameError,
    InvalidParameterError,
    PortError,
    RadioFailureError,
    UnsupportedError,
)
from ._radio import BlockingRadio, Radio, RadioConfig, RadioInfo, RxPacket, TxResult

__all__ = [
    "BridgeError", "ConfigError", "DeviceBusyError", "DeviceDisconnectedError", "DeviceError",
    "DeviceTimeoutError", "FrameError", "InvalidParameterError", "PortError",
    "RadioFailureError", "UnsupportedError",
    "BlockingRadio", "Radio", "RadioConfig", "RadioInfo", "RxPacket", "TxResult",
]
