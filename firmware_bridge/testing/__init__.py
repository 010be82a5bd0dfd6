"""Supported fakes for testing code that talks to radios: vendor devices on real ptys.

Other packages and users test against these rather than copying them into test
files (compare `trio.testing`). The devboard emulator and the pty they run on
are product code (`firmware_bridge.NativeDeviceCore`, `firmware_bridge.PtyDevice`);
they are re-exported here so tests written against this module keep working.
"""

from .._emulator import NativeDeviceCore
from .._pty import PtyDevice, SansIODevice, open_raw_pty
from ._packet_forwarder import FakePacketForwarder
from ._rn2483_device import FakeRN2483

__all__ = ["FakePacketForwarder", "FakeRN2483", "NativeDeviceCore", "PtyDevice", "SansIODevice",
           "open_raw_pty"]
