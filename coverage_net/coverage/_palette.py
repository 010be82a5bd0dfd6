"""The colours of a coverage map's classes, shared by the PNG and the HTML map.

Proven cells are drawn in strong colours, predicted ones in pale tints of the same hue,
so the eye reads "proven" first. Colours are exact (no transparency) so a test can find
each class's pixels in a rendered map.
"""

from __future__ import annotations

__all__ = ["HOTSPOT_COLOUR", "PROVEN_HOTSPOT_COLOUR", "colour_of"]

_PROVEN = {"excellent": "#1a9641", "good": "#a6d96a", "fair": "#fdae61", "marginal": "#d7191c",
           "uplinks": "#2c7bb6"}
_PREDICTED = {"excellent": "#b8e0c4", "good": "#e4f3cf", "fair": "#fee3c4", "marginal": "#f3bcbd",
              "uplinks": "#c0d8ea"}
_OTHER_PROVEN, _OTHER_PREDICTED = "#7b3294", "#dcc6e6"
HOTSPOT_COLOUR = "#404040"
"""A hotspot whose coverage no valid witness proves (yet)."""
PROVEN_HOTSPOT_COLOUR = "#000000"


def colour_of(layer: str, class_name: str) -> str:
    """``#rrggbb`` of a (layer, class) pair; classes beyond the default ones share one."""
    if layer == "proven":
        return _PROVEN.get(class_name, _OTHER_PROVEN)
    return _PREDICTED.get(class_name, _OTHER_PREDICTED)
