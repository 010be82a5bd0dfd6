"""The approved changes a validator's operator hands it: files in ``<data dir>/changes``.

A change of the validator set or the network parameters (`ChainChange`) is written and
reviewed as a TOML file, and each approving validator's operator appends its signature
(``coverage-net chain change approve``: ``<file>.approvals`` beside it). Whoever collects
a quorum of approvals copies the two files into any validator's ``changes`` directory;
that validator's next proposal includes the change (`ChainApp.pending_changes`), and
every validator checks the approvals itself. A file that does not read is logged and
skipped, never fatal: the directory is an inbox, and the chain is the record.
"""

from __future__ import annotations

import logging
from pathlib import Path

from coverage_net.consensus import ApprovedChange, GenesisError

__all__ = ["CHANGES_DIR", "load_pending_changes"]

logger = logging.getLogger(__name__)

CHANGES_DIR = "changes"
"""The inbox of approved changes, inside a validator's data directory."""


def load_pending_changes(directory: Path) -> list[ApprovedChange]:
    """Every change file (``*.toml``) in `directory` with its approvals, by file name."""
    if not directory.is_dir():
        return []
    changes = []
    for path in sorted(directory.glob("*.toml")):
        try:
            changes.append(ApprovedChange.load(path))
        except GenesisError as exc:
            logger.warning("change file skipped: %s", exc)
    return changes
