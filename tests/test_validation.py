"""``evidence validate``: the measured score's rank agreement with the expert index of one edition."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from netfreedom.evidence.model import Query
from netfreedom.evidence.validation import validate

from ._report_data import verdict, write_index_tables, write_verdicts

# FOTN 2018 totals (0 = most free): China 88, Iran 85, Russia 67, Germany 20 ...
COUNTRIES = {"CN": 0.9, "IR": 0.8, "RU": 0.5, "TR": 0.45, "BR": 0.2, "DE": 0.05, "US": 0.02, "GB": 0.04}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    path = tmp_path_factory.mktemp("validate") / "s.duckdb"
    rng = random.Random(3)
    rows = []
    for cc, blocked_share in COUNTRIES.items():
        for i in range(60):
            outcome = "blocked" if rng.random() < blocked_share else "ok"
            rows.append(
                verdict(
                    f"{cc}{i}",
                    f"2018-0{1 + i % 9}-1{i % 10} 10:00:00",
                    f"{cc} AS{100 + i % 4}",
                    f"https://site{i}.example/",
                    outcome,
                )
            )
    write_verdicts(path, rows, [])
    write_index_tables(path, shared_data / "fotn" / "fotn_2018.csv")
    return path


def _query(db: Path) -> tuple[duckdb.DuckDBPyConnection, Query]:
    con = duckdb.connect(str(db), read_only=True)

    def query(sql: str, params: Sequence[object] | None = None) -> pa.Table:
        return con.sql(sql, params=list(params) if params is not None else None).to_arrow_table()

    return con, query


def test_measured_score_agrees_with_experts(db: Path) -> None:
    con, query = _query(db)
    try:
        v = validate(query, 2018, resamples=300, seed=5)
        again = validate(query, 2018, resamples=300, seed=5)
    finally:
        con.close()
    assert v.agreement is not None and v.scale == "0-best" and v.period == "all"
    assert {p.iso2 for p in v.pairs} == set(COUNTRIES)
    cn = next(p for p in v.pairs if p.iso2 == "CN")
    assert cn.expert_total == 88 and cn.expert_freedom == 12  # turned to 100 = most free
    assert v.agreement.n == len(COUNTRIES)
    assert 0.6 < v.agreement.rho <= 1  # more blocking measured where the experts see less freedom
    assert v.agreement.low <= v.agreement.rho <= v.agreement.high
    assert v.to_json() == again.to_json()
    doc = v.to_json()
    assert doc["n"] == len(COUNTRIES) and len(doc["disagreements"]) == 5
    assert "Spearman ρ = " in v.summary() and "8 countries" in v.summary()


def test_no_edition_or_too_few_countries(db: Path) -> None:
    con, query = _query(db)
    try:
        none = validate(query, 1999)
        few = validate(query, 2018, exclude=[c for c in COUNTRIES if c not in ("CN", "DE")])
    finally:
        con.close()
    assert none.agreement is None and "no 1999 edition" in none.note
    assert few.agreement is None and "at least 3" in few.note and len(few.pairs) == 2
