"""The software radio simulator (layer 3). Filled in by the simulator issue."""
