"""Supported fakes for testing code that talks to radios: devices on real ptys.

Other packages and users test against these rather than copying them into test
files (compare `trio.testing`).
"""

from ._native_device import NativeDeviceCore
from ._packet_forwarder import FakePacketForwarder
from ._pty import PtyDevice, SansIODevice, open_raw_pty
from ._rn2483_device import FakeRN2483

__all__ = ["FakePacketForwarder", "FakeRN2483", "NativeDeviceCore", "PtyDevice", "SansIODevice",
           "open_raw_pty"]
