"""The radio hardware boundary (layer 2): one `Radio` interface, its drivers and frames,
and the devboard emulator (`NativeDeviceCore` on a `PtyDevice`) the simulator ships."""

from ._capture import PcapCapture, read_capture
from ._emulator import DeviceBackend, NativeDeviceCore
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
from ._lorawan import (
    DataUplink,
    beacon_frame,
    data_uplink_frame,
    is_beacon_frame,
    is_data_uplink,
    open_data_uplink,
    parse_beacon_frame,
    parse_data_uplink,
)
from ._native import NativeRadio
from ._pty import PtyDevice, SansIODevice, open_raw_pty
from ._radio import BlockingRadio, Gap, Radio, RadioConfig, RadioInfo, RxPacket, TxResult
from ._rn2483 import RN2483Radio
from ._semtech_udp import SemtechUdpRadio

__all__ = [
    "BridgeError", "ConfigError", "DeviceBusyError", "DeviceDisconnectedError", "DeviceError",
    "DeviceTimeoutError", "FrameError", "InvalidParameterError", "PortError",
    "RadioFailureError", "UnsupportedError",
    "BlockingRadio", "Gap", "Radio", "RadioConfig", "RadioInfo", "RxPacket", "TxResult",
    "NativeRadio", "RN2483Radio", "SemtechUdpRadio",
    "PcapCapture", "read_capture", "beacon_frame", "is_beacon_frame", "parse_beacon_frame",
    "DataUplink", "data_uplink_frame", "parse_data_uplink", "is_data_uplink", "open_data_uplink",
    "DeviceBackend", "NativeDeviceCore", "PtyDevice", "SansIODevice", "open_raw_pty",
]
