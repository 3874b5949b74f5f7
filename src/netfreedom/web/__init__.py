"""The read-only HTTP API (FastAPI) over a store, which also serves the static site at ``/``."""

from netfreedom.web.app import create_app

__all__ = ["create_app"]
