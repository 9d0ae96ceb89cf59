"""tdba-wizard: connect a CFA to the Tableau de bord de l'apprentissage and keep it connected."""

import os

__version__ = "0.1.0"

# This tool uses no pydantic plugin; looking them up scans every installed package's metadata
# at the first model (tens of milliseconds at each start of --check or of the nightly job).
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
