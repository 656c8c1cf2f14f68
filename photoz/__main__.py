"""Entry point for ``python -m photoz``."""

from photoz.cli import main

raise SystemExit(main())
