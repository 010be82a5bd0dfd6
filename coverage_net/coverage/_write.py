"""Writing output files whole or not at all: a temporary name, fsync, then rename."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["atomic_binary", "atomic_text"]


@contextlib.contextmanager
def atomic_text(path: Path) -> Iterator[IO[str]]:
    """A text file to write; it appears at `path` only if the block ends without error."""
    with _atomic(path, "w") as out:
        yield out


@contextlib.contextmanager
def atomic_binary(path: Path) -> Iterator[IO[bytes]]:
    with _atomic(path, "wb") as out:
        yield out


@contextlib.contextmanager
def _atomic(path: Path, mode: str) -> Iterator[IO]:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, mode, **({"encoding": "utf-8", "newline": ""} if "b" not in mode
                                else {})) as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
