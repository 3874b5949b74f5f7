"""The read-only HTTP API (FastAPI) over a store, which also serves the static site at ``/``."""

from netfreedom.extras import require

require("netfreedom.web (the HTTP API)", "web")

from netfreedom.web.app import create_app  # noqa: E402

__all__ = ["create_app"]
