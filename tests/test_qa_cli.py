"""Bad input at the command line, as a demanding user gives it: a clear one-line error, never a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from netfreedom.pipeline.project import load_project

from .conftest import DATA, cli_env


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netfreedom", *args], capture_output=True, text=True, env=cli_env(), cwd=cwd
    )


def _clean_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    return " ".join(result.stderr.split())


def test_error_quoting_markup_like_input_is_printed_as_text(tmp_path: Path) -> None:
    # A path holding "[/]" once crashed the error printer itself (Rich markup).
    missing = tmp_path / "no[/]dir[bold]"
    message = _clean_error(_run("build", str(missing)))
    assert "no[/]dir[bold]" in message
    assert "no netfreedom.toml" in message


def test_init_where_no_folder_can_be_made(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    message = _clean_error(_run("init", str(blocker / "project")))
    assert "cannot create the project" in message
    assert str(blocker / "project") in message


def test_init_title_with_quotes_and_backslashes_stays_valid_toml(tmp_path: Path) -> None:
    title = 'The "free" net \\ index <b>'
    result = _run("init", str(tmp_path / "p"), "--title", title, "--year", "2018")
    assert result.returncode == 0, result.stderr
    project = load_project(tmp_path / "p")
    assert project.title == title


def test_analyze_store_mode_without_a_store(tmp_path: Path) -> None:
    db = tmp_path / "typo.duckdb"
    # No fingerprint source is reachable here: the store check must come first, and must not create one.
    message = _clean_error(_run("analyze", "--db", str(db), "--cache-dir", str(tmp_path / "cache")))
    assert f"no store at {db}" in message
    assert not db.exists()
    assert not (tmp_path / "cache").exists()


def test_report_map_file_missing_or_not_topojson_names_the_file(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    db.write_bytes(b"")  # the map is read before the store is opened
    missing = tmp_path / "nowhere.json"
    message = _clean_error(
        _run("report", "--db", str(db), "-o", str(tmp_path / "site"), "--map-url", str(missing))
    )
    assert str(missing) in message
    assert "cannot read the map" in message
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    message = _clean_error(
        _run("report", "--db", str(db), "-o", str(tmp_path / "site"), "--map-url", str(junk))
    )
    assert f"{junk}: not a TopoJSON topology" in message


def test_report_output_that_cannot_be_a_folder(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    db.write_bytes(b"")
    taken = tmp_path / "a-file"
    taken.write_text("x")
    for output in (taken, taken / "site"):
        message = _clean_error(_run("report", "--db", str(db), "-o", str(output), "--no-map"))
        assert f"{output}: cannot create the site folder" in message
    assert db.read_bytes() == b""


def test_serve_a_site_folder_that_holds_no_site(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    db.write_bytes(b"")
    (tmp_path / "empty").mkdir()
    for site in (tmp_path / "missing", tmp_path / "empty"):
        message = _clean_error(_run("serve", "--db", str(db), "--site", str(site), "--port", "0"))
        assert f"{site}: no site here" in message


def test_serve_on_a_taken_port_or_a_foreign_address(tmp_path: Path) -> None:
    import duckdb

    db = tmp_path / "store.duckdb"
    duckdb.connect(str(db)).close()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        message = _clean_error(_run("serve", "--db", str(db), "--port", port))
        assert f"cannot listen on 127.0.0.1:{port}" in message
        assert "serving" not in message
    # An address this machine does not have (TEST-NET-1): no name lookup, the bind itself fails.
    message = _clean_error(_run("serve", "--db", str(db), "--host", "192.0.2.1", "--port", "0"))
    assert "cannot listen on 192.0.2.1:0" in message


def test_analyze_output_that_cannot_be_written(tmp_path: Path) -> None:
    source = tmp_path / "m.jsonl"
    source.write_text('{"test_name": "web_connectivity", "measurement_start_time": "2024-01-01 00:00:00"}\n')
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for output, problem in ((tmp_path, "is a folder"), (blocker / "out.jsonl", "cannot write the verdicts")):
        message = _clean_error(_run("analyze", str(source), "-o", str(output), "--no-fingerprints"))
        assert f"{output}: {problem}" in message


def test_a_hostile_probe_cc_never_names_a_file_outside_the_site(tmp_path: Path) -> None:
    # probe_cc comes from measurements anyone can write; it once became country/../../pwned.html.
    source = tmp_path / "m.jsonl"
    lines = [
        '{"test_name": "web_connectivity", "measurement_start_time": "2024-02-01 00:00:00", '
        f'"probe_cc": "{cc}", "input": "http://example.org/", "test_keys": {{}}}}'
        for cc in ("../../pwned", "[/]", "IT")
    ]
    source.write_text("\n".join(lines) + "\n")
    db = str(tmp_path / "store.duckdb")
    for args in (
        ("ingest", str(source)),
        ("analyze", "--no-fingerprints"),
        ("report", "-o", "out/site", "--no-map"),
    ):
        result = _run(*args, "--db", db, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    written = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.html"))
    assert written == ["site/country/IT.html", "site/data.html", "site/index.html", "site/methodology.html"]
    assert not list(tmp_path.rglob("pwned*"))


def test_starter_project_builds_offline_from_the_mirror(tmp_path: Path) -> None:
    # The starter's [mirror_layout] once lacked the fingerprint homes, so `build --mirror` went online; and
    # a starter once needed scores before its first build.  As written, it builds with Freedom House's 2018
    # workbook and no measurements yet.
    assert _run("init", "st", cwd=tmp_path).returncode == 0
    built = _run("build", "st", "--mirror", str(DATA), "--cache-dir", str(tmp_path / "cache"), cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    out = " ".join((built.stdout + built.stderr).split())
    # The empty measurements folder is said, not silently "up to date".
    assert f"{tmp_path / 'st' / 'measurements'}:0: empty folder" in out
    assert "2018: 65 countries" in out
    assert (tmp_path / "st" / "site" / "index.html").is_file()
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_import_fh_out_that_cannot_be_written(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    workbook = str(DATA / "fotn" / "fotn_2018_freedomhouse.xlsx")
    for out, problem in ((tmp_path, "is a folder"), (blocker / "fh.csv", "cannot write the score file")):
        message = _clean_error(_run("index", "import-fh", workbook, "--out", str(out)))
        assert f"{out}: {problem}" in message
    assert not list(tmp_path.glob("*.part"))


def test_engine_help_keeps_the_extra_name() -> None:
    # Rich read "[dask]" as markup and printed "pip install 'netfreedom'".
    result = _run("analyze", "--help")
    assert "dask extra" in " ".join(result.stdout.split())
