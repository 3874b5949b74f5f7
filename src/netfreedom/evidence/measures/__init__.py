"""The built-in evidence measures; importing this package registers them (``evidence.model.measures``).

A measure that lives here is one module that calls ``evidence.model.register`` at import time, imported
below.  A measure that lives in another package registers itself the same way when that package is imported.
"""

from netfreedom.evidence.measures import aggregate_rates, events, test_blocking, url_blocking, verdict_counts

__all__ = ["aggregate_rates", "events", "test_blocking", "url_blocking", "verdict_counts"]
