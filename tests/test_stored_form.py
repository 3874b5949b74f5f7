"""The stored form (docs/scaling.md, "The stored form"): new files hold ``raw`` in zstd and the rest in
Snappy, and a store whose older files are zstd throughout reads and re-analyses alike."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from netfreedom.ingest import Record, read_source
from netfreedom.pipeline.analyze import analyze_store
from netfreedom.pipeline.ingest import verdict_row
from netfreedom.store import Analysed, open_store


def _codecs(path: Path) -> dict[str, str]:
    group = pq.ParquetFile(path).metadata.row_group(0)
    return {group.column(i).path_in_schema: group.column(i).compression for i in range(group.num_columns)}


def test_codecs_of_new_files_and_an_older_store_reads_alike(db_path: Path, measurements_dir: Path) -> None:
    records = [r for r in read_source(str(measurements_dir)) if isinstance(r, Record)]
    rows = [verdict_row(r, None) for r in records]
    with open_store(db_path) as store:
        store.add_measurements(records, Analysed(verdicts=rows, analysis_version=0, fingerprints_id="old"))
        root = store.parquet_root
        measurement_files = sorted((root / "measurements").rglob("*.parquet"))
        verdict_files = sorted((root / "verdicts").rglob("*.parquet"))
        assert measurement_files and verdict_files
        for path in measurement_files:
            codecs = _codecs(path)
            assert codecs.pop("raw") == "ZSTD"
            assert set(codecs.values()) == {"SNAPPY"}
        for path in verdict_files:
            assert set(_codecs(path).values()) == {"SNAPPY"}

        before = {m.measurement_uid: m.raw for b in store.iter_measurements() for m in b}
        # Rewrite every measurement file as the store wrote them before: zstd throughout.
        for path in measurement_files:
            pq.write_table(pq.read_table(path), path, compression="zstd", compression_level=-3)
            assert set(_codecs(path).values()) == {"ZSTD"}
        after = {m.measurement_uid: m.raw for b in store.iter_measurements() for m in b}
        assert after == before and len(after) == len(records)

        # Stale verdicts (another analysis version) are redone from the zstd files, one per measurement.
        summary = analyze_store(store, None)
        assert summary.reset == len(records)
        assert summary.stored == len(records)
        fresh = {(r.measurement_uid, r.outcome, r.reason) for r in rows}
        stored = store.query("SELECT measurement_uid, outcome, reason FROM verdicts").to_pylist()
        assert {(v["measurement_uid"], v["outcome"], v["reason"]) for v in stored} == fresh
