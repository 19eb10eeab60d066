"""``python -m recolor_hf ...`` runs the ``recolor`` command."""

from .cli import main

raise SystemExit(main())
