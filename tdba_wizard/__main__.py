"""Entry point for ``python -m tdba_wizard``."""

from tdba_wizard.cli import main

raise SystemExit(main())
