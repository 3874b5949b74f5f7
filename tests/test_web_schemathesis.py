"""Property-based run of the API against its own OpenAPI document: no input may cause a server error."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

from netfreedom.report.aggregate import refresh_cube
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
    refresh_cube(con)
    con.close()
    return create_app(db)


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())
# Both data that fits the schema and data that does not: neither may reach a 5xx.
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=40)


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
@pytest.mark.filterwarnings("ignore")
def test_no_server_errors(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=[not_a_server_error])
