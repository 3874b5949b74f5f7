"""Publishing: the aggregation cube and queries over verdicts, the world map, and the static site.

``report`` is shared by the static site generator and the read-only API (``web``), which sits one level
above it (see docs/architecture.md).  Entry points: ``aggregate.refresh_cube`` after analysis,
``site.write_site`` to publish.
"""
