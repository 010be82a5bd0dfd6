"""The radio hardware boundary (layer 2). Filled in by the serial-bridge issue."""
