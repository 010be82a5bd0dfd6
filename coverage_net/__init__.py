"""coverage-net: an open peer-to-peer LoRa coverage network."""

__version__ = "0.1.0"
