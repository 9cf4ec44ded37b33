"""``python -m lianqin`` is the ``lianqin`` command."""

from lianqin.cli import main

main()
