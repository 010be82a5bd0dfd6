"""`python -m radio_sim`: an alias of `coverage-net sim` (`run`, `serve`).

The simulator's commands live in the top layer's one command line, which this
package (layer 3) does not import; so the alias replaces this process with
``python -m coverage_net.cli sim ARGS``: same options, output, errors and exit status.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    os.execv(sys.executable, [sys.executable, "-m", "coverage_net.cli", "sim", *sys.argv[1:]])
