"""netfreedom: an open, evidence-based internet freedom index.

Network measurements (OONI format) are ingested into a store, analysed into verdicts, aggregated into
evidence and, with a methodology and expert scores, compiled into an index that is published as a static
site and a read-only API.
"""

from netfreedom.errors import ConfigError, FetchError, InputError, NetfreedomError, StoreError

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "FetchError",
    "InputError",
    "NetfreedomError",
    "StoreError",
    "__version__",
]
