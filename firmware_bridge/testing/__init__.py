"""Supported fakes for testing code that talks to radios: devices on real ptys.

Other packages and users test against these rather than copying them into test
files (compare `trio.testing`).
"""

from ._pty import PtyDevice, SansIODevice, open_raw_pty

__all__ = ["PtyDevice", "SansIODevice", "open_raw_pty"]
