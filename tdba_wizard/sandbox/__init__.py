"""A local server that behaves like the TDBA API (see TDBA-API.md), for trying and testing."""

from tdba_wizard.sandbox.server import Failure, Organisme, RateLimit, Sandbox, load_seed

__all__ = ["Failure", "Organisme", "RateLimit", "Sandbox", "load_seed"]
