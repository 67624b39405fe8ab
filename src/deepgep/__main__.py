"""``python -m deepgep``: the command line of :mod:`deepgep.cli`."""

from deepgep.cli import main

raise SystemExit(main())
