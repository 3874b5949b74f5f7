"""The Dask engine against the local one: a real LocalCluster (2 worker processes on loopback), real
DuckDB stores in temp folders, the shared measurements re-issued into a small corpus (bench/corpus.py).
Ingest, verdicts and evidence must be identical, row for row, to the local engine's."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netfreedom.analysis import ANALYSIS_VERSION, FingerprintDB
from netfreedom.analysis.fingerprint_sources import load_fingerprints, sources_in_dir
from netfreedom.errors import EngineError, InputError, MissingExtraError
from netfreedom.evidence.indicators import indicator_figures
from netfreedom.evidence.model import Axis, Period, Window, evidence
from netfreedom.evidence.tables import lists_table
from netfreedom.fetch import Fetcher
from netfreedom.index.methodology import load_methodology
from netfreedom.ingest import Filters
from netfreedom.ingest.testlists import read_testlists
from netfreedom.pipeline.analyze import AnalyzeSummary, analyze_store
from netfreedom.pipeline.ingest import Analysis, ingest
from netfreedom.pipeline.scale import EngineOptions, connect, require_dask
from netfreedom.pipeline.scale.analyze import plan as plan_analysis
from netfreedom.pipeline.scale.evidence import (
    evidence_on_cluster,
    indicators_on_cluster,
)
from netfreedom.pipeline.scale.ingest import group_sources, ingest_on_cluster, partition_of
from netfreedom.store import open_store

from .conftest import DATA, ROOT, cli_env

sys.path.insert(0, str(ROOT / "bench"))
from corpus import COUNTRIES, build_corpus


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    with connect(EngineOptions(workers=2, memory_limit="512MiB")) as c:
        yield c


def on(client: Any) -> EngineOptions:
    """Options that reach this module's cluster through its scheduler's address, as a user would."""
    return EngineOptions(scheduler=client.scheduler.address)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, measurements_dir: Path) -> Path:
    """The shared measurements re-issued into ~6 MB of .jsonl.gz, plus a file with bad lines."""
    root = tmp_path_factory.mktemp("corpus")
    info = build_corpus(size_mb=6, fmt="jsonl.gz", days=3, file_mb=2, root=root, source=measurements_dir)
    folder = Path(info.path)
    good = (measurements_dir / "telegram.jsonl").read_bytes().splitlines()
    with gzip.open(folder / "zz-bad.jsonl.gz", "wb") as f:
        f.write(b"\n".join([good[0], b"{not json", b'{"test_name": 3}', good[0], *good[1:]]) + b"\n")
    return folder


def table_rows(store: Any, table: str) -> list[dict[str, Any]]:
    rows = store.query(f"SELECT * EXCLUDE (file) FROM {table} ORDER BY measurement_uid").to_pylist()
    assert rows, f"no rows in {table}"
    return rows


def test_ingest_on_the_cluster_matches_local(
    tmp_path: Path, client: Any, corpus: Path, measurements_dir: Path, fingerprints: FingerprintDB
) -> None:
    """Ingest with analysis: the workers analyse as they read; measurements, verdicts (stamped with the
    version and fingerprints) and counts are the local engine's, row for row; a second run adds nothing."""
    sources = [str(corpus), str(measurements_dir)]
    analysis = Analysis(fingerprints)
    with open_store(tmp_path / "local.duckdb") as local:
        expected = ingest(local, sources, batch_size=3000, analysis=analysis)
        local_rows = table_rows(local, "measurements")
        local_verdicts = table_rows(local, "verdicts")
    with open_store(tmp_path / "dask.duckdb") as store:
        got = ingest_on_cluster(store, sources, client=client, analysis=analysis)
        assert store.check() == []
        assert table_rows(store, "measurements") == local_rows
        assert table_rows(store, "verdicts") == local_verdicts
        # Verdict Parquet written by the workers, registered with the measurements (same batches).
        batches = store.query(
            "SELECT batch, list(DISTINCT kind ORDER BY kind) AS kinds FROM files GROUP BY batch"
        ).to_pylist()
        assert any(b["kinds"] == ["measurements", "verdicts"] for b in batches)
        assert all(b["kinds"] != ["verdicts"] for b in batches)
        # Idempotent: a second run adds no measurement and no verdict.
        again = ingest_on_cluster(store, sources, client=client, analysis=analysis)
        assert (again.ingested, again.verdicts) == (0, 0)
        assert again.duplicates == got.ingested + got.duplicates
        assert table_rows(store, "verdicts") == local_verdicts and store.check() == []
        assert not (store.parquet_root / ".staging").exists()
    assert got.to_json() == expected.to_json()
    # Bad lines are reported with file and line (manifest.json is not a measurement either).
    bad = {(Path(e.file).name, e.line) for e in got.errors}
    assert {("zz-bad.jsonl.gz", 2), ("zz-bad.jsonl.gz", 3), ("manifest.json", 1)} == bad
    assert got.duplicates >= 1  # the repeated line in the bad file
    assert got.ingested == got.verdicts == len(local_rows) == len(local_verdicts)
    assert {r["analysis_version"] for r in local_verdicts} == {ANALYSIS_VERSION}
    assert {r["fingerprints_id"] for r in local_verdicts} == {fingerprints.id}
    assert any(r["confirmed"] for r in local_verdicts)  # the fingerprints reached the workers


def test_ingest_into_a_store_that_holds_some_of_it(
    tmp_path: Path, client: Any, corpus: Path, fingerprints: FingerprintDB
) -> None:
    """Measurements already stored (here without verdicts) win over the new copies, and the verdicts the
    workers made for those copies are dropped with them: the store ends as the local engine leaves it."""
    files = sorted(corpus.glob("part-*.jsonl.gz"))
    assert len(files) > 2
    # Every other measurement of one file: its task holds stored and new measurements.
    some = tmp_path / "some.jsonl"
    some.write_bytes(b"\n".join(gzip.decompress(files[1].read_bytes()).splitlines()[::2]) + b"\n")
    analysis = Analysis(fingerprints)
    stores = {}
    for engine in ("local", "dask"):
        with open_store(tmp_path / f"{engine}.duckdb") as store:
            before = ingest(store, [str(some)])  # no analysis
            if engine == "local":
                summary = ingest(store, [str(corpus)], analysis=analysis)
            else:
                summary = ingest_on_cluster(store, [str(corpus)], client=client, analysis=analysis)
            assert store.check() == []
            unanalysed = store.query(
                "SELECT count(*) AS n FROM measurements m ANTI JOIN verdicts v USING (measurement_uid)"
            )
            stores[engine] = (
                summary.to_json(),
                table_rows(store, "measurements"),
                table_rows(store, "verdicts"),
                unanalysed.column("n")[0].as_py(),
            )
    assert stores["dask"] == stores["local"]
    summary, _, verdicts, unanalysed = stores["dask"]
    assert unanalysed == before.ingested > 0  # the stored copies keep no verdict, as locally
    assert summary["duplicates"] >= before.ingested and summary["verdicts"] == summary["ingested"]
    assert len(verdicts) == summary["verdicts"]


def test_archive_layout_is_read_by_partition(tmp_path: Path, client: Any, measurements_dir: Path) -> None:
    """An archive URL served from a mirror folder in the OONI layout: listing on the client, pruned by the
    filters, one task per date x country x test partition."""
    lines = (measurements_dir / "web_connectivity.jsonl").read_bytes().splitlines()
    mirror = tmp_path / "mirror"
    for n, (hour, cc) in enumerate([("00", "IT"), ("01", "IT"), ("00", "IR"), ("02", "IT")]):
        folder = mirror / "ooni-data-eu-fra.s3.eu-central-1.amazonaws.com/raw/20240301" / hour / cc
        (folder / "webconnectivity").mkdir(parents=True, exist_ok=True)
        with gzip.open(folder / "webconnectivity" / f"part-{n}.jsonl.gz", "wb") as f:
            f.write(b"\n".join(lines[n * 5 : n * 5 + 5]) + b"\n")
    fetcher = Fetcher(cache_dir=tmp_path / "cache", mirrors={"*": str(mirror)})
    source = ["s3://ooni-data-eu-fra/raw/"]
    filters = Filters.build(countries=["IT"])  # the envelope's country, not the folder's, decides at last
    with open_store(tmp_path / "local.duckdb") as local:
        expected = ingest(local, source, fetcher=fetcher, filters=filters)
        local_rows = table_rows(local, "measurements")
    with open_store(tmp_path / "dask.duckdb") as store:
        got = ingest_on_cluster(store, source, fetcher=fetcher, filters=filters, client=client)
        assert table_rows(store, "measurements") == local_rows
    assert got.to_json() == expected.to_json()
    assert got.files == 3  # the IR folder was pruned before any read


def test_grouping_by_partition() -> None:
    listed = [
        ("s3/raw/20240301/00/IT/webconnectivity/a.jsonl.gz", 10),
        ("s3/raw/20240301/00/IR/webconnectivity/b.jsonl.gz", 10),
        ("s3/raw/20240301/01/IT/webconnectivity/c.jsonl.gz", 10),
        ("s3/raw/20240301/02/IT/webconnectivity/d.jsonl.gz", 10),
        ("/data/loose.jsonl", 5),
    ]
    assert partition_of(listed[0][0]) == ("20240301", "IT", "webconnectivity")
    assert partition_of("jsonl/webconnectivity/IT/20200101/00/x.jsonl.gz") == (
        "20200101",
        "IT",
        "webconnectivity",
    )
    assert partition_of("/data/loose.jsonl") is None
    groups = group_sources(listed, task_bytes=25)
    assert [g.sources for g in groups] == [
        (listed[0][0], listed[2][0]),
        (listed[3][0],),
        (listed[1][0],),
        ("/data/loose.jsonl",),
    ]


Analysed = tuple[Path, Path, AnalyzeSummary, AnalyzeSummary]


@pytest.fixture(scope="module")
def fingerprints() -> FingerprintDB:
    return load_fingerprints(sources_in_dir(DATA))


@pytest.fixture(scope="module")
def analysed(
    tmp_path_factory: pytest.TempPathFactory, client: Any, corpus: Path, fingerprints: FingerprintDB
) -> tuple[Path, Path, AnalyzeSummary, AnalyzeSummary]:
    """The corpus analysed by both engines: (local store, dask store, local summary, dask summary)."""
    root = tmp_path_factory.mktemp("analysed")
    lists = lists_table(read_testlists(DATA / "test-lists", countries=COUNTRIES))
    with open_store(root / "local.duckdb") as local:
        ingest(local, [str(corpus)])
        expected = analyze_store(local, fingerprints, batch_size=700)
        local.write_table("testlists", lists)
    with open_store(root / "dask.duckdb") as store:
        ingest(store, [str(corpus)])
        got = analyze_store(store, fingerprints, cluster=on(client))
        store.write_table("testlists", lists)
    return root / "local.duckdb", root / "dask.duckdb", expected, got


def test_verdicts_on_the_cluster_match_local(
    client: Any, analysed: tuple[Path, Path, AnalyzeSummary, AnalyzeSummary], fingerprints: FingerprintDB
) -> None:
    local_path, dask_path, expected_summary, summary = analysed
    assert summary.to_json() == expected_summary.to_json()
    with open_store(local_path, read_only=True) as local:
        expected = table_rows(local, "verdicts")
    with open_store(dask_path) as store:
        assert summary.stored == summary.analysed == store.count_measurements() == len(expected)
        assert store.check() == []
        assert table_rows(store, "verdicts") == expected
        # Written back as verdict Parquet partitions, registered in the store.
        files = store.query("SELECT count(*) AS n FROM files WHERE kind = 'verdicts' AND state = 'done'")
        assert files.column("n")[0].as_py() > 1
        again = analyze_store(store, fingerprints, cluster=on(client))
        assert (again.analysed, again.stored, again.reset) == (0, 0, 0)
    outcomes = {r["outcome"] for r in expected}
    assert {"ok", "blocked", "inconclusive"} <= outcomes
    assert any(r["confirmed"] for r in expected)  # blockpage fingerprints applied on the workers
    assert len({r["fingerprints_id"] for r in expected}) == 1


CUTS = [
    ("url_blocking", (Axis.COUNTRY, Axis.CATEGORY)),
    ("url_blocking", (Axis.COUNTRY, Axis.METHOD)),
    ("url_blocking", (Axis.COUNTRY, Axis.DOMAIN)),
    ("url_blocking", (Axis.COUNTRY, Axis.NETWORK)),
    ("test_blocking", (Axis.COUNTRY, Axis.KIND, Axis.TEST)),
    ("verdict_counts", (Axis.COUNTRY, Axis.URL)),
]


def test_evidence_on_the_cluster_matches_local(
    client: Any, analysed: tuple[Path, Path, AnalyzeSummary, AnalyzeSummary]
) -> None:
    local_path, dask_path, _, _ = analysed
    # the corpus spans 1-3 March: one day is cut
    window = Window(dt.date(2024, 3, 1), dt.date(2024, 3, 3), Period.MONTH)
    with open_store(local_path, read_only=True) as local:
        expected = {cut: evidence(local.query, cut[0], axes=cut[1], window=window) for cut in CUTS}
        everything = evidence(local.query, "verdict_counts", window=Window(period=Period.MONTH))
    with open_store(dask_path, read_only=True) as store:
        got = {
            cut: evidence_on_cluster(store, cut[0], axes=cut[1], window=window, client=client) for cut in CUTS
        }
        with pytest.raises(InputError, match="per country"):
            evidence_on_cluster(store, "url_blocking", axes=(Axis.CATEGORY,), client=client)
    for cut in CUTS:
        assert got[cut].equals(expected[cut]), cut
    assert sum(t.num_rows for t in got.values()) > 20
    categories = got[("url_blocking", (Axis.COUNTRY, Axis.CATEGORY))].column("category").to_pylist()
    assert len(set(categories)) > 3  # real test-list categories joined on the workers
    assert any(got[("url_blocking", (Axis.COUNTRY, Axis.DOMAIN))].column("blocked").to_pylist())
    # The date cut is real: the third day's verdicts are outside the window.
    cut = sum(got[("verdict_counts", (Axis.COUNTRY, Axis.URL))].column("measurements").to_pylist())
    assert sum(everything.column("measurements").to_pylist()) > cut


def run_cli(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netfreedom", *map(str, args)],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=300,
    )


def test_cli_on_an_existing_scheduler(
    tmp_path: Path, client: Any, measurements_dir: Path, fingerprints: FingerprintDB
) -> None:
    """`ingest` and `analyze` with --engine dask --scheduler ADDRESS (this module's cluster) give the
    local engine's store."""
    address = client.scheduler.address
    with open_store(tmp_path / "local.duckdb") as local:
        ingest(local, [str(measurements_dir)])
        expected = analyze_store(local, fingerprints)
        expected_rows = table_rows(local, "verdicts")
    db = tmp_path / "dask.duckdb"
    dask = ("--engine", "dask", "--scheduler", address)
    done = run_cli("ingest", measurements_dir, "--db", db, *dask, "--no-analyze", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ingested"] == expected.analysed
    # Ingest with analysis on the cluster: the verdicts of ingest then analyze.
    analysed_db = tmp_path / "analysed.duckdb"
    done = run_cli(
        "ingest", measurements_dir, "--db", analysed_db, *dask, "--fingerprints-dir", DATA, "--json"
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["verdicts"] == expected.stored
    with open_store(analysed_db) as store:
        assert table_rows(store, "verdicts") == expected_rows
    done = run_cli(
        "analyze",
        "--db",
        db,
        "--fingerprints-dir",
        DATA,
        "--json",
        "--engine",
        "dask",
        "--scheduler",
        address,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == expected.to_json()
    with open_store(db) as store:
        assert table_rows(store, "verdicts") == expected_rows
        # Other fingerprints: every verdict is redone, as locally.
        redo = analyze_store(store, None, cluster=on(client))
        assert redo.reset == redo.stored == len(expected_rows)
        assert redo.fingerprints_id == "none"


INDEX_ARGS = ["--methodology", "fotn", "--scores", "s.csv", "--year", "2024"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["analyze", "--workers", "2"], "need --engine dask"),
        (["analyze", "--engine", "dask", "x.jsonl", "-o", "o.jsonl"], "analyses the store"),
        (["ingest", "x.jsonl", "--scheduler", "tcp://127.0.0.1:9"], "need --engine dask"),
        (
            ["ingest", "x.jsonl", "--engine", "dask", "--workers", "1", "--scheduler", "tcp://h:1"],
            "--scheduler",
        ),
        (["index", "build", *INDEX_ARGS, "--workers", "2"], "need --engine dask"),
        (["index", "build", *INDEX_ARGS, "--engine", "dask", "--no-evidence"], "--no-evidence"),
    ],
)
def test_cli_engine_option_errors(tmp_path: Path, args: list[str], message: str) -> None:
    done = run_cli(*args, "--db", tmp_path / "s.duckdb")
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_options_are_checked() -> None:
    with pytest.raises(InputError, match="not both"):
        EngineOptions(scheduler="tcp://127.0.0.1:1", workers=2)
    with pytest.raises(InputError, match="at least 1"):
        EngineOptions(workers=0)


def test_an_unreachable_scheduler_is_a_clean_error() -> None:
    with (
        pytest.raises(EngineError, match="cannot reach the Dask scheduler"),
        connect(EngineOptions(scheduler="tcp://127.0.0.1:9", connect_timeout=1)),
    ):
        pass


def test_without_the_dask_extra_the_error_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # what `import distributed` meets when absent
    with pytest.raises(MissingExtraError, match=r"pip install 'netfreedom\[dask\]'"):
        require_dask()
    with pytest.raises(MissingExtraError, match="netfreedom"), connect(EngineOptions(workers=1)):
        pass


def test_tasks_are_sized_by_bytes_and_rows() -> None:
    files = [
        (f"measurements/date=2024-03-01/probe_cc=IT/test_name=t{i}/0.parquet", 10, 100) for i in range(40)
    ]
    groups = list(plan_analysis(files, workers=2))
    # A task takes a quarter of a worker's share of the bytes left (4000 / 8 = 500: five files of 100,
    # then 3500 / 8 = 437: five again, 3000 / 8 = 375: four, ...), never less than 4000 / 32 = 125.
    assert [len(g.files) for g in groups] == [5, 5, 4, 4, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2]
    assert [f for g in groups for f in g.files] == [f for f, _, _ in files]  # every file once, in order
    assert sum(g.rows for g in groups) == 400
    assert all(g.rows <= 20 for g in plan_analysis(files, workers=1, task_rows=20))
    big = [("a.parquet", 5, 10_000), ("b.parquet", 5, 1), ("c.parquet", 5, 1)]
    assert [g.files for g in plan_analysis(big, workers=4)] == [("a.parquet",), ("b.parquet", "c.parquet")]


def test_a_failed_task_leaves_no_half_batch(
    tmp_path: Path, client: Any, corpus: Path, fingerprints: FingerprintDB
) -> None:
    """A task that fails on a worker: the run stops with its error; every task registered before it is
    whole (each measurement file fully analysed or not at all), nothing is left staged, and a second run
    completes the store."""
    from functools import partial

    from netfreedom.pipeline.analyze import analyze_batch
    from netfreedom.pipeline.scale.analyze import analyze_on_cluster

    real = partial(analyze_batch, fingerprints=fingerprints)
    # A lambda travels by value to the workers (this test module is not importable there).
    failing = lambda batch, real=real: (  # noqa: E731
        real(batch) if all(m.probe_cc != "IR" for m in batch) else int("IR")
    )
    db = tmp_path / "s.duckdb"
    with open_store(db) as store:
        ingest(store, [str(corpus)])
        with pytest.raises(EngineError, match=r"ValueError: invalid literal .* 'IR'"):
            analyze_on_cluster(
                store,
                failing,
                analysis_version=1,
                fingerprints_id=fingerprints.id,
                client=client,
                task_rows=60,
            )
    # A task already running when the run failed goes on and may still stage files: wait for it, then
    # reopen the store (which deletes whatever was staged and never registered).
    # (The scheduler forgets a cancelled task at once, while its worker thread runs on: ask the workers.)
    deadline = time.monotonic() + 180  # generous: a loaded machine runs the stragglers slowly

    def running() -> bool:
        busy = client.run(lambda dask_worker: len(dask_worker.state.all_running_tasks))
        return any(client.processing().values()) or any(busy.values())

    while running() and time.monotonic() < deadline:
        time.sleep(0.1)
    with open_store(db) as store:
        per_file = store.query(
            "SELECT m.file, count(*) AS n, count(v.measurement_uid) AS done FROM measurements m "
            "LEFT JOIN verdicts v USING (measurement_uid) GROUP BY m.file"
        ).to_pylist()
        assert all(r["done"] in (0, r["n"]) for r in per_file)
        assert any(r["done"] == 0 for r in per_file)
        assert store.check() == []
        assert not (store.parquet_root / ".staging").exists()
        run = analyze_on_cluster(
            store, real, analysis_version=1, fingerprints_id=fingerprints.id, client=client
        )
        assert (
            store.stats().verdicts
            == store.count_measurements()
            == run.verdicts + sum(r["done"] for r in per_file)
        )
        assert store.check() == []


# --- index evidence on the cluster ---------------------------------------------------------------------

# Broad rules, so the corpus gives figures with tested and blocked URLs and tests (the shipped fotn rules
# are checked too); the 2024 edition covers calendar 2024, the corpus's March.
BROAD_METHODOLOGY = """\
extends = "fotn"
id = "test-dask-evidence"
version = "1"

[coverage]
start_month = 1

[[evidence]]
indicator = "B1"
measure = "url_blocking"
categories = ["NEWS", "POLR", "HUMR", "GRP", "CULTR", "COMT", "UNCAT"]
min_tested = 1

[[evidence]]
indicator = "A3"
measure = "test_blocking"
tests = ["telegram", "whatsapp", "signal", "facebook_messenger", "tor"]
basis = "blocked"
min_tested = 1
"""


def test_indicator_figures_on_the_cluster_match_local(
    tmp_path: Path, client: Any, analysed: tuple[Path, Path, AnalyzeSummary, AnalyzeSummary]
) -> None:
    local_path, _, _, _ = analysed
    (tmp_path / "m.toml").write_text(BROAD_METHODOLOGY)
    broad = load_methodology(tmp_path / "m.toml")
    results = []
    with open_store(local_path, read_only=True) as store:
        for methodology, level in [(broad, 0.9), (broad, 0.5), (load_methodology("fotn"), 0.9)]:
            expected = indicator_figures(store.query, methodology, 2024, level=level)
            got = indicators_on_cluster(store, methodology, 2024, level=level, client=client)
            assert list(got.items()) == list(expected.items())  # same countries, figures, order
            results.append(got)
        # An edition whose coverage holds none of the corpus's days: no partition is read, no figure.
        assert indicators_on_cluster(store, broad, 2023, client=client) == {}
        assert indicator_figures(store.query, broad, 2023) == {}
    assert results[0] != results[1]  # the interval level reaches the workers
    assert list(results[0]) == sorted(COUNTRIES)
    figures = [f for per_cc in results[0].values() for f in per_cc]
    assert {f.indicator for f in figures} == {"B1", "A3"}
    assert any(f.tested and f.blocked for f in figures if f.indicator == "B1")
    assert any(f.tested and f.blocked for f in figures if f.indicator == "A3")


def _odd_countries_corpus(folder: Path, measurements_dir: Path) -> Path:
    """Shared measurements re-issued in March 2024 under country codes that are not plain codes (all in
    folder ZZ) beside a true one; "X9" gets only a test no rule looks at."""
    out = folder / "odd.jsonl"
    lines = []
    n = 0
    for name, codes in [
        ("web_connectivity", ["ZZ", "ir", "IR", "Zz"]),
        ("telegram", ["ZZ", "ir", "IR"]),
        ("whatsapp", ["ir", "ZZ"]),
        ("dnscheck", ["X9"]),
    ]:
        for line in (measurements_dir / f"{name}.jsonl").read_bytes().splitlines():
            for cc in codes:
                m = json.loads(line)
                n += 1
                m["measurement_uid"] = f"20240302000000.000000_odd_{n:06d}"
                m["probe_cc"] = cc
                m["measurement_start_time"] = m["test_start_time"] = f"2024-03-02 {n % 24:02d}:00:00"
                lines.append(json.dumps(m))
    out.write_text("\n".join(lines) + "\n")
    return out


def test_indicator_figures_merge_the_countries_of_folder_zz(
    tmp_path: Path, client: Any, measurements_dir: Path, fingerprints: FingerprintDB
) -> None:
    from netfreedom.pipeline.scale.evidence import plan as plan_evidence

    (tmp_path / "m.toml").write_text(BROAD_METHODOLOGY)
    methodology = load_methodology(tmp_path / "m.toml")
    with open_store(tmp_path / "odd.duckdb") as store:
        ingest(store, [str(_odd_countries_corpus(tmp_path, measurements_dir))])
        analyze_store(store, fingerprints)
        store.write_table("testlists", lists_table(read_testlists(DATA / "test-lists", countries=["IR"])))
        folders = {t.folder_cc for t in plan_evidence(store, dt.date(2024, 1, 1), dt.date(2025, 1, 1))}
        expected = indicator_figures(store.query, methodology, 2024)
        got = indicators_on_cluster(store, methodology, 2024, client=client)
    assert folders == {"ZZ", "IR"}  # "ZZ", "Zz", "ir" and "X9" share one task
    assert list(got.items()) == list(expected.items())
    assert list(got) == ["IR", "X9", "ZZ", "Zz", "ir"]
    # Each odd code is its own country, as locally: "ir" ran whatsapp too, "IR" (Iran's folder) did not.
    apps = {cc: next(f for f in figures if f.indicator == "A3") for cc, figures in got.items()}
    count = {
        n: len((measurements_dir / f"{n}.jsonl").read_bytes().splitlines()) for n in ("telegram", "whatsapp")
    }
    assert apps["IR"].measurements == count["telegram"]
    assert apps["ir"].measurements == apps["ZZ"].measurements == count["telegram"] + count["whatsapp"]
    assert any(f.blocked for f in got["ZZ"]) and any(f.confirmed for f in got["ir"])
    # A country with verdicts in the period but none that a rule counts still gets its zero figures.
    assert [(f.indicator, f.tested, f.measurements) for f in got["X9"]] == [("B1", 0, 0), ("A3", 0, 0)]
    assert (apps["Zz"].tested, apps["Zz"].measurements) == (0, 0)  # web_connectivity only


def test_cli_index_build_on_the_dask_engine(
    tmp_path: Path, analysed: tuple[Path, Path, AnalyzeSummary, AnalyzeSummary]
) -> None:
    """`index build --engine dask --workers 1` stores the index `--engine local` stores: totals, ranks,
    flags and the evidence behind them."""
    import shutil

    local_path, _, _, _ = analysed
    (tmp_path / "m.toml").write_text(BROAD_METHODOLOGY)
    rows = ["iso2,year,scale,code,score"]
    for n, cc in enumerate(COUNTRIES):  # alternately little and heavy restriction claimed
        scores = (24, 33, 38) if n % 2 else (6, 8, 10 + n)
        rows += [f"{cc},2024,100-best,{code},{v}" for code, v in zip("ABC", scores, strict=True)]
    (tmp_path / "scores.csv").write_text("\n".join(rows) + "\n")
    tables = {}
    for engine in ("local", "dask"):
        db = tmp_path / engine / "store.duckdb"
        db.parent.mkdir()
        shutil.copy(local_path, db)
        shutil.copytree(local_path.with_suffix(".parquet"), db.with_suffix(".parquet"))
        extra = ["--workers", "1"] if engine == "dask" else []
        args = ["index", "build", "--methodology", tmp_path / "m.toml", "--scores", tmp_path / "scores.csv"]
        done = run_cli(*args, "--year", 2024, "--db", db, "--engine", engine, *extra)
        assert done.returncode == 0, done.stderr
        assert f"evidence for {len(COUNTRIES)} countries" in done.stdout
        with open_store(db, read_only=True) as store:
            tables[engine] = {
                name: store.query(f"SELECT * FROM {name} WHERE year = 2024 ORDER BY ALL").to_pylist()
                for name in ("index_results", "index_scores", "index_flags", "index_evidence")
            }
    assert tables["dask"] == tables["local"]
    local = tables["local"]
    assert len(local["index_results"]) == len(COUNTRIES) and all(r["rank"] for r in local["index_results"])
    assert any(r["tested"] and r["blocked"] for r in local["index_evidence"])
    assert {r["kind"] for r in local["index_flags"]} & {"evidence_contradicts", "evidence_absent"}


def test_index_build_without_the_dask_extra(tmp_path: Path) -> None:
    """Without Dask installed: the local build never imports it, `--engine dask` says how to install it."""
    blocked = tmp_path / "no-dask"
    blocked.mkdir()
    for name in ("dask", "distributed"):  # found before the real packages, as if they were absent
        (blocked / f"{name}.py").write_text("raise ImportError('not installed')\n")
    (tmp_path / "s.csv").write_text(
        "iso2,year,scale,code,score\n" + "".join(f"IT,2024,100-best,{c},10\n" for c in "ABC")
    )
    env = cli_env()
    env["PYTHONPATH"] = str(blocked) + os.pathsep + env["PYTHONPATH"]
    args = [sys.executable, "-m", "netfreedom", "index", "build", *INDEX_ARGS, "--db", tmp_path / "s.duckdb"]

    def run(*more: str) -> subprocess.CompletedProcess[str]:
        cmd = [*map(str, args), *more]
        return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)

    done = run("--engine", "dask", "--workers", "1")
    assert done.returncode == 2 and "pip install 'netfreedom[dask]'" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "s.duckdb").exists()  # refused before the store was touched
    done = run()
    assert done.returncode == 0, done.stderr
    assert "1 countries, 1 ranked" in done.stdout
