"""The store's Parquet files are partitioned in folders named after sanitised values (``ZZ`` for a country
code that is not two letters, ``_other`` …): every reader takes the true values from the columns, never from
the folder names."""

from __future__ import annotations

import json
from pathlib import Path

from netfreedom.pipeline.ingest import ingest
from netfreedom.store import open_store


def test_stored_measurements_keep_country_codes_that_share_a_folder(
    tmp_path: Path, measurements_dir: Path
) -> None:
    lines = (measurements_dir / "telegram.jsonl").read_bytes().splitlines()
    src = tmp_path / "odd.jsonl"
    docs = []
    for n, cc in enumerate(["ir", "Zz", "X9", "ZZ"]):
        doc = json.loads(lines[0])
        doc["measurement_uid"] = f"20240302000000.000000_odd_{n:06d}"
        doc["probe_cc"] = cc
        docs.append(json.dumps(doc))
    src.write_text("\n".join(docs) + "\n")
    with open_store(tmp_path / "s.duckdb") as store:
        ingest(store, [str(src)], analysis=None)
        read = sorted(m.probe_cc for batch in store.iter_measurements() for m in batch)
        pending = sorted(m.probe_cc for b in store.iter_measurements(without_verdicts=True) for m in b)
        catalogue = store.query("SELECT probe_cc FROM measurements ORDER BY probe_cc").column(0).to_pylist()
    assert read == pending == catalogue == ["X9", "ZZ", "Zz", "ir"]
