"""The benches' `--json PATH` option: their figures as one JSON object."""

from __future__ import annotations

import json
from pathlib import Path


def write_figures(figures: object, dest: str | None) -> None:
    """Print the figures ('-') or write them to a file, indented; nothing without `dest`."""
    if dest == "-":
        print(json.dumps(figures))
    elif dest:
        Path(dest).write_text(json.dumps(figures, indent=2))
