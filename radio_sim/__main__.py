"""`python -m radio_sim`: run scenarios in virtual time, or serve virtual devboards."""

from __future__ import annotations

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
