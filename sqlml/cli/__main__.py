"""``python -m sqlml.cli``: the ``sqlml`` command."""

from sqlml.cli import main

main()
