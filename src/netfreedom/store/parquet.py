"""How the store lays rows out as Parquet: the measurement table built from records, the partition of each
row, and the write options — shared by the store's own writer and by Dask workers that write files for it
to register (``store.staged``), so both produce the same files.
"""

from __future__ import annotations

import array
import datetime as dt
import itertools
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from netfreedom.errors import StoreError
from netfreedom.ingest import Record, bucket_of, content_key, is_content_uid
from netfreedom.models.measurement import first_input
from netfreedom.store.schema import ENVELOPE_COLUMNS, MEASUREMENT_PARQUET

# Partition of a row: (day, probe_cc, test_name); ``schema.partition_dir`` turns it into a folder.
Key = tuple[str, str, str]

_PAGE_ROWS = 64
_DICT_COLUMNS = ["probe_cc", "probe_asn", "probe_network_name", "test_name", "test_version"]
_STATS_COLUMNS = [n for n, _, _ in ENVELOPE_COLUMNS]
# zstd level of ``raw``: a fast negative level (bench/stored_form.py measures the others).
RAW_LEVEL = -3


def _day(t: dt.datetime) -> str:
    return f"{t.year:04d}-{t.month:02d}-{t.day:02d}"


def first_of_each(uids: Sequence[str], keys: Sequence[str | None]) -> list[bool]:
    """Which rows are the first of their measurement ("first seen wins").  A row repeats an earlier one
    with the same uid, or with the same content key when one of the two has no archive uid (its uid is a
    content hash, ``ingest.is_content_uid``): the uid-less ``.jsonl.gz`` copy of a postcan measurement.
    Two rows that both carry archive uids are two measurements, whatever their content key."""
    seen: set[str] = set()
    keyed_hash: set[str] = set()  # content keys of rows without an archive uid
    keyed_uid: set[str] = set()  # content keys of rows with one
    out: list[bool] = []
    for uid, key in zip(uids, keys, strict=True):
        hashed = is_content_uid(uid)
        repeat = uid in seen or (key is not None and (key in keyed_hash or (hashed and key in keyed_uid)))
        out.append(not repeat)
        if not repeat:
            seen.add(uid)
            if key is not None:
                (keyed_hash if hashed else keyed_uid).add(key)
    return out


def unique(records: Sequence[Record]) -> list[Record]:
    """The records with the first of each measurement (``first_of_each``)."""
    keep = first_of_each([r.uid for r in records], [content_key(r.envelope) for r in records])
    return [r for r, k in zip(records, keep, strict=True) if k]


def measurement_table(batch: Sequence[Record]) -> tuple[pa.Table, list[Key]]:
    """The batch as a table in ``MEASUREMENT_PARQUET`` (envelope columns, source file and line, raw JSON)
    and each row's partition.  A record without a country goes to ``ZZ``."""
    envs = [r.envelope for r in batch]
    ccs = [(e.probe_cc or "ZZ") for e in envs]
    table = pa.table(
        {
            "measurement_uid": [r.uid for r in batch],
            "measurement_start_time": [r.time for r in batch],
            "probe_cc": ccs,
            "probe_asn": [e.probe_asn for e in envs],
            "probe_network_name": [e.probe_network_name for e in envs],
            "test_name": [e.test_name for e in envs],
            "test_version": [e.test_version for e in envs],
            "software_name": [e.software_name for e in envs],
            "software_version": [e.software_version for e in envs],
            "input": [first_input(e) for e in envs],
            "report_id": [e.report_id for e in envs],
            "source_file": [r.file for r in batch],
            "source_line": [r.line for r in batch],
            "bucket_date": [_date(bucket_of(r)) for r in batch],
            "content_key": [content_key(e) for e in envs],
            "raw": _binary([r.raw for r in batch]),
        },
        schema=MEASUREMENT_PARQUET,
    )
    keys = [(_day(r.time), cc, e.test_name) for r, cc, e in zip(batch, ccs, envs, strict=True)]
    return table, keys


def _date(t: dt.datetime | None) -> dt.date | None:
    return t.date() if t is not None else None


def table_keys(table: pa.Table) -> list[Key]:
    """The partition of each row of a measurement or verdict table (from its own columns)."""
    days = pc.strftime(table.column("measurement_start_time"), format="%Y-%m-%d").to_pylist()
    return list(
        zip(days, table.column("probe_cc").to_pylist(), table.column("test_name").to_pylist(), strict=True)
    )


def write(table: pa.Table, path: Path | str) -> None:
    """Write one partition file.  The stored form, chosen with ``bench/stored_form.py`` (docs/scaling.md,
    "Stored form"): ``raw`` is the measurement's JSON as read, zstd at ``RAW_LEVEL`` — what re-analysis
    reads back (bodies and all, so new rules and fingerprints can run); its min/max statistics would be
    costly and useless.  The small columns, and verdict files, use Snappy: at the store's small partition
    files a zstd context per column chunk costs more than it saves."""
    if "raw" in table.column_names:
        codecs = dict.fromkeys(table.column_names, "snappy")
        codecs["raw"] = "zstd"
        pq.write_table(
            table,
            path,
            compression=codecs,
            compression_level={"raw": RAW_LEVEL},
            use_dictionary=_DICT_COLUMNS,
            write_statistics=_STATS_COLUMNS,
            # Pages of at most this many rows: by default a page holds up to 1,024 measurements, so a
            # 32 MB batch was one page of ``raw`` that the writer and every reader held whole
            # (bench/memory.py; smaller pages cost 2-3 % in file size and no time).
            write_batch_size=_PAGE_ROWS,
        )
    else:
        pq.write_table(table, path, compression="snappy")


def _binary(values: list[bytes]) -> pa.Array:
    """An Arrow binary array built from one joined buffer and its offsets: ten times faster than
    ``pa.array`` on large values."""
    offsets = array.array("i", [0])
    offsets.extend(itertools.accumulate(map(len, values)))
    if offsets[-1] >= 2**31 - 1:
        raise StoreError("a batch holds more than 2 GiB of measurements; use smaller batches")
    return pa.Array.from_buffers(
        pa.binary(), len(values), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(values))]
    )
