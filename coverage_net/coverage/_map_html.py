"""A self-contained HTML coverage map: works offline, fetches nothing.

The cells, their figures and their outlines are embedded in the page as JSON; a short
inline script draws them as SVG polygons (one group per layer, toggled by checkboxes:
proven and predicted), the hotspots as markers, and shows each cell's or hotspot's
details on hover. A Content-Security-Policy of ``default-src 'none'`` forbids the page
any request at all (only its own inline script and style run), so opening it never
leaks where the user looked, and it keeps working without a network.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

import h3
import numpy as np

from ._layers import LAYERS, CoverageLayers
from ._map_png import cell_rings, map_title
from ._palette import HOTSPOT_COLOUR, PROVEN_HOTSPOT_COLOUR, colour_of
from ._proven import NO_RSSI
from ._write import atomic_text

__all__ = ["map_data", "write_map_html"]


def map_data(layers: CoverageLayers) -> dict[str, object]:
    """What the page embeds: groups of cells by (layer, class), hotspots, the bounds."""
    rings = cell_rings(layers.cells)
    groups = []
    for layer, class_name in layers.groups():
        cells = []
        for i in np.flatnonzero(layers.mask(layer, class_name)).tolist():
            rssi = int(layers.rssi_centi_dbm[i])
            epoch = int(layers.last_epoch[i])
            cells.append([h3.int_to_str(int(layers.cells[i])),
                          None if rssi == NO_RSSI else rssi / 100,
                          int(layers.witnesses[i]), int(layers.hotspots_heard[i]),
                          None if epoch < 0 else epoch, int(layers.uplinks[i]),
                          [round(v, 6) for v in rings[i].ravel().tolist()]])
        groups.append({"layer": layer, "class": class_name,
                       "colour": colour_of(layer, class_name), "cells": cells})
    lon = [v for r in rings for v in r[:, 0]] + [h.lon_deg for h in layers.hotspots]
    lat = [v for r in rings for v in r[:, 1]] + [h.lat_deg for h in layers.hotspots]
    bounds = [min(lon), min(lat), max(lon), max(lat)] if lon else [-0.01, -0.01, 0.01, 0.01]
    return {"title": map_title(layers), "res": layers.res, "layers": list(LAYERS),
            "groups": groups, "bounds": bounds,
            "hotspots": [{"key": h.key_hex, "lat": h.lat_deg, "lon": h.lon_deg,
                          "proven": h.proven, "witnessed": h.witnessed,
                          "colour": PROVEN_HOTSPOT_COLOUR if h.proven else HOTSPOT_COLOUR}
                         for h in layers.hotspots]}


def write_map_html(layers: CoverageLayers, path: str | os.PathLike[str]) -> Path:
    """Write the offline map page to `path`."""
    data = json.dumps(map_data(layers), separators=(",", ":"), allow_nan=False)
    page = (_PAGE.replace("__TITLE__", html.escape(map_title(layers).replace("\n", " ")))
            .replace("__DATA__", data.replace("</", "<\\/")))
    with atomic_text(Path(path)) as out:
        out.write(page)
    return Path(path)


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
      content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'">
<title>__TITLE__</title>
<style>
 body { margin: 0; font: 13px sans-serif; background: #ffffff; }
 header { padding: 6px 10px; border-bottom: 1px solid #ccc; }
 header h1 { font-size: 14px; margin: 0 0 4px 0; white-space: pre-line; }
 #map { width: 100vw; height: calc(100vh - 90px); display: block; }
 #tip { position: fixed; pointer-events: none; background: #fff; border: 1px solid #333;
        padding: 4px 6px; display: none; white-space: pre; font: 12px monospace; }
 .key { display: inline-block; width: 12px; height: 12px; margin: 0 3px 0 10px;
        vertical-align: middle; }
</style>
</head>
<body>
<header><h1 id="title"></h1><span id="controls"></span> <span id="legend"></span></header>
<svg id="map" xmlns="http://www.w3.org/2000/svg" shape-rendering="crispEdges"></svg>
<div id="tip"></div>
<script type="application/json" id="data">__DATA__</script>
<script>
"use strict";
const data = JSON.parse(document.getElementById("data").textContent);
const svg = document.getElementById("map"), tip = document.getElementById("tip");
const NS = "http://www.w3.org/2000/svg";
document.getElementById("title").textContent = data.title;
const [w, s, e, n] = data.bounds;
const k = Math.cos((s + n) / 2 * Math.PI / 180);
const padX = Math.max((e - w) * k * 0.05, 0.005), padY = Math.max((n - s) * 0.05, 0.005);
svg.setAttribute("viewBox", [w * k - padX, -n - padY, (e - w) * k + 2 * padX,
                             (n - s) + 2 * padY].join(" "));
const x = lon => lon * k, y = lat => -lat;
const groups = {};
for (const layer of data.layers) {
  const g = document.createElementNS(NS, "g");
  g.id = "layer-" + layer;
  svg.appendChild(g);
  groups[layer] = g;
  const label = document.createElement("label");
  const box = document.createElement("input");
  box.type = "checkbox"; box.checked = true; box.id = "toggle-" + layer;
  box.addEventListener("change", () => { g.style.display = box.checked ? "" : "none"; });
  label.appendChild(box);
  label.appendChild(document.createTextNode(" " + layer + " "));
  document.getElementById("controls").appendChild(label);
}
function show(ev, text) {
  tip.textContent = text; tip.style.display = "block";
  tip.style.left = (ev.clientX + 12) + "px"; tip.style.top = (ev.clientY + 12) + "px";
}
svg.addEventListener("mouseleave", () => { tip.style.display = "none"; });
for (const group of data.groups) {
  const key = document.createElement("span");
  key.className = "key"; key.style.background = group.colour;
  const legend = document.getElementById("legend");
  legend.appendChild(key);
  legend.appendChild(document.createTextNode(group.layer + " " + group.class +
                                             " (" + group.cells.length + ")"));
  for (const [cell, rssi, witnesses, heard, epoch, uplinks, ring] of group.cells) {
    const p = document.createElementNS(NS, "polygon");
    const pts = [];
    for (let i = 0; i < ring.length; i += 2) pts.push(x(ring[i]) + "," + y(ring[i + 1]));
    p.setAttribute("points", pts.join(" "));
    p.setAttribute("fill", group.colour);
    p.setAttribute("stroke", group.colour);
    p.setAttribute("stroke-width", "0");
    const text = group.layer + " " + group.class + "\\ncell " + cell +
      (rssi === null ? "" : "\\n" + (group.layer === "proven" ? "best measured" : "predicted") +
                            " RSSI " + rssi.toFixed(2) + " dBm") +
      (group.layer === "proven" ? "\\nvalid witnesses " + witnesses + "\\nhotspots heard " +
        heard + "\\nlast epoch " + (epoch === null ? "-" : epoch) + "\\nuplinks bought " +
        uplinks : "");
    p.addEventListener("mousemove", ev => show(ev, text));
    groups[group.layer].appendChild(p);
  }
}
const r = Math.max((e - w) * k, n - s) / 250;
for (const h of data.hotspots) {
  const c = document.createElementNS(NS, "circle");
  c.setAttribute("cx", x(h.lon)); c.setAttribute("cy", y(h.lat)); c.setAttribute("r", r);
  c.setAttribute("fill", "none");  // hollow: the cell its witnessing proves shows inside
  c.setAttribute("stroke", h.colour);
  c.setAttribute("stroke-width", r / 2);
  c.setAttribute("shape-rendering", "geometricPrecision");
  const text = "hotspot " + h.key.slice(0, 16) + "...\\n" + h.lat.toFixed(5) + ", " +
    h.lon.toFixed(5) + "\\ncoverage " + (h.proven ? "proven" : "not proven") +
    "\\nvalid witnesses of its beacons " + h.witnessed;
  c.addEventListener("mousemove", ev => show(ev, text));
  svg.appendChild(c);
}
</script>
</body>
</html>
"""
