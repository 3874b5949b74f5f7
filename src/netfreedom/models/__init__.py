"""Types of the data flow: measurements, verdicts.  No I/O lives here."""

from netfreedom.models.measurement import Envelope, measurement_time
from netfreedom.models.verdict import Layer, Outcome, Reason, Verdict

__all__ = ["Envelope", "Layer", "Outcome", "Reason", "Verdict", "measurement_time"]
