"""Property-based run of the API against its own OpenAPI document, with every schemathesis check: no input
may cause a server error, and every answer (status, content type, headers, body, the 405s' Allow) conforms
to the document.  A schema-valid request is accepted — OONI's aggregation included, whose parameters' forms
the schema states as patterns (``report.ooni.PATTERNS``) — except for the rules a JSON schema cannot state,
because an OpenAPI schema describes each parameter alone: ``since`` after ``until`` is a 422 (documented on
``until``; for the aggregation, ``since`` not before ``until``), and so is OONI's ``time_grain=hour`` with
the time axis where raw verdicts are counted (they are counted by day).  Those are checked here by hand.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance
from schemathesis.generation import GenerationMode

from netfreedom.evidence import facts
from netfreedom.models.aggregation import TIME_AXIS
from netfreedom.report.ooni import _time
from netfreedom.web import create_app

from ._report_data import SAMPLE_LISTS, sample_verdicts, write_index_tables, write_verdicts

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"


def _app() -> object:
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="nf-schemathesis-"))
    db = root / "store.duckdb"
    write_verdicts(db, sample_verdicts(300), SAMPLE_LISTS)
    write_index_tables(db, DATA / "fotn" / "fotn_2018.csv")
    con = duckdb.connect(str(db))
    facts.refresh(con)
    con.close()
    return create_app(db)


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())
# Both data that fits the schema and data that does not: neither may reach a 5xx.
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=40)


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
@pytest.mark.filterwarnings("ignore")
def test_no_server_errors_and_full_conformance(case: schemathesis.Case) -> None:
    response = case.call_and_validate(excluded_checks=[positive_data_acceptance])
    meta = case.meta
    query = case.query or {}
    if meta is not None and not meta.generation.mode.is_negative and response.status_code == 422:
        assert _between_parameters(case.operation.path, query), (query, response.text)


def _between_parameters(path: str, query: dict[str, object]) -> bool:
    """True when ``query`` breaks one of the rules between parameters the API documents (module docstring)."""
    since, until = (str(query.get(k) or "").strip() for k in ("since", "until"))
    if path != "/api/v1/aggregation":
        return bool(since and until) and since > until
    axes = {str(query.get(k) or "").strip() for k in ("axis_x", "axis_y")}
    if str(query.get("time_grain") or "").strip().lower() == "hour" and TIME_AXIS in axes:
        return True
    return bool(since and until) and _time("since", since) >= _time("until", until)
