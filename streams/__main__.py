"""``python -m streams`` is the ``tunggal`` command."""

from streams.cli import main

raise SystemExit(main())
