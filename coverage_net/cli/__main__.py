"""``python -m coverage_net.cli``: the same as the ``coverage-net`` command."""

from ._main import main

main(prog_name="coverage-net")
