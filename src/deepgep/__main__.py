"""``python -m deepgep``: the command line of :mod:`deepgep.cli`."""

from deepgep.cli import main

__all__: list[str] = []

raise SystemExit(main())
