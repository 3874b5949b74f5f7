"""Events (level 1, pure but for reading the files it is given): curated event lists read into
``models.event.Event``s (``readers``), the rule that finds an event repeated across sheets (``dedupe``),
and the detector of outages in per-country daily series (``detect``)."""

from netfreedom.events.readers import RowNote, RowProblem, Sheet, default_source, read_event_file

__all__ = ["RowNote", "RowProblem", "Sheet", "default_source", "read_event_file"]
