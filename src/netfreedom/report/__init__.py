"""Publishing: the world map and the static site, over the one evidence model (``evidence``).

``report`` is shared by the static site generator and the read-only API (``web``), which sits one level
above it (see docs/architecture.md).  Entry points: ``publish.publish`` (refreshes the evidence tables, then
``site.write_site``).
"""
