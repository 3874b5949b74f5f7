"""``netfreedom probe run``: measure URLs or test lists with web_connectivity, OONI-format JSON lines out."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated

import typer

from netfreedom.errors import InputError

probe_app = typer.Typer(help="Measure websites from this network (web_connectivity, OONI format).")

_CC = re.compile(r"^[A-Z]{2}$")
_ASN = re.compile(r"^AS\d{1,10}$")


def parse_resolver(text: str | None) -> tuple[str, int] | None:
    """``IP`` or ``IP:PORT`` (IPv6 as ``[v6]:port``) to (ip, port); port 53 by default."""
    from netfreedom.probe.addresses import is_ip, split_endpoint

    if text is None:
        return None
    if is_ip(text):
        return text.strip("[]"), 53
    parsed = split_endpoint(text)
    if parsed is None:
        raise InputError(f"--resolver must be IP or IP:PORT, got {text!r}")
    return parsed


def load_urls(urls: list[str], lists: list[Path]) -> list[str]:
    from urllib.parse import urlsplit

    from netfreedom.ingest.testlists import parse_list

    found: dict[str, None] = {}
    for url in urls:
        try:
            parts = urlsplit(url)
            _ = parts.port  # raises on a port that is not a number in range
        except ValueError as exc:
            raise InputError(f"not a valid URL: {url!r} ({exc})") from exc
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(f"not an http(s) URL: {url!r}")
        found.setdefault(url, None)
    for path in lists:
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except OSError as exc:
            raise InputError(f"cannot read test list: {exc.strerror}", file=str(path)) from exc
        except UnicodeDecodeError as exc:
            raise InputError("test list is not UTF-8", file=str(path)) from exc
        try:
            entries, problems = parse_list(text, str(path), path.stem.lower())
        except ValueError as exc:  # a URL urllib cannot split; the reader should report it as a bad row
            raise InputError(f"unreadable test list: {exc}", file=str(path)) from exc
        for problem in problems:
            typer.echo(f"warning: {problem}", err=True)
        for entry in entries:
            found.setdefault(entry.url, None)
    if not found:
        raise InputError("nothing to measure: give --url or --test-list with at least one URL")
    return list(found)


def load_routes(path: Path) -> dict[str, str]:
    """The lab's ``{"public ip:port": "loopback ip:port"}`` map; every dial is confined to it."""
    import msgspec

    from netfreedom.probe.addresses import split_endpoint

    try:
        routes = msgspec.json.decode(path.read_bytes(), type=dict[str, str])
    except OSError as exc:
        raise InputError(f"cannot read lab routes: {exc.strerror}", file=str(path)) from exc
    except msgspec.DecodeError as exc:
        raise InputError(f"lab routes are not a JSON object of strings: {exc}", file=str(path)) from exc
    for key, value in routes.items():
        if split_endpoint(key) is None or split_endpoint(value) is None:
            raise InputError(f"lab route {key!r} -> {value!r} is not IP:port -> IP:port", file=str(path))
    if not routes:
        raise InputError("lab routes are empty", file=str(path))
    return routes


def confirm_risk(yes: bool) -> None:
    from netfreedom.probe import consent

    if consent.accepted():
        return
    typer.echo(consent.RISK_NOTICE, err=True)
    if not yes:
        if not sys.stdin.isatty():
            raise InputError("the risk notice above must be accepted: re-run with --yes")
        if not typer.confirm("Do you accept these risks and want to run the tests?", err=True):
            raise InputError("risk notice not accepted; nothing was measured")
    path = consent.remember()
    typer.echo(f"(acceptance remembered in {path})", err=True)


@probe_app.command("run")
def run(
    *,
    url: Annotated[list[str] | None, typer.Option("--url", help="URL to measure (repeatable).")] = None,
    test_list: Annotated[
        list[Path] | None,
        typer.Option("--test-list", help="Citizen Lab test-list CSV (repeatable: global + a country file)."),
    ] = None,
    control: Annotated[str, typer.Option("--control", help="Control (test helper) URL.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Measurements out, one JSON per line.")],
    resolver: Annotated[
        str | None, typer.Option("--resolver", help="DNS resolver IP[:PORT] instead of the system resolver.")
    ] = None,
    probe_cc: Annotated[str, typer.Option("--probe-cc", help="Your country code (ISO alpha-2).")] = "ZZ",
    probe_asn: Annotated[str, typer.Option("--probe-asn", help="Your network's ASN (AS1234).")] = "AS0",
    parallel: Annotated[int, typer.Option("--parallel", min=1, max=256, help="Measurements in flight.")] = 4,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds per network step.")] = 10.0,
    body_cap: Annotated[
        int, typer.Option("--body-cap", min=1024, help="Bytes of body kept per response.")
    ] = 524288,  # measure.BODY_CAP, the 0.5 probe's cap (not imported: the CLI loads the probe lazily)
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Accept the risk notice without asking.")] = False,
    ca_file: Annotated[
        Path | None,
        typer.Option("--ca-file", help="PEM CA certificates to trust instead of the system's."),
    ] = None,
    lab_routes: Annotated[
        Path | None,
        typer.Option("--lab-routes", hidden=True, help="Censorship lab address map (JSON; lab runs only)."),
    ] = None,
) -> None:
    """Measure URLs with web_connectivity and write OONI-format measurements."""
    import asyncio
    from collections import Counter

    import msgspec

    from netfreedom.extras import require

    require("netfreedom probe run", "probe")

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from netfreedom.analysis import analyze_line
    from netfreedom.probe.measure import ProbeSettings
    from netfreedom.probe.runner import Vantage
    from netfreedom.probe.runner import run as run_probe

    from ._console import make_console

    cc = probe_cc.upper()
    if not _CC.match(cc):
        raise InputError(f"--probe-cc must be two letters, got {probe_cc!r}")
    asn = probe_asn.upper()
    if asn.isdigit():
        asn = f"AS{asn}"
    if not _ASN.match(asn):
        raise InputError(f"--probe-asn must look like AS1234, got {probe_asn!r}")
    if not control.startswith(("http://", "https://")):
        raise InputError(f"--control must be an http(s) URL, got {control!r}")
    urls = load_urls(url or [], test_list or [])
    settings = ProbeSettings(
        control_url=control,
        resolver=parse_resolver(resolver),
        timeout=timeout,
        control_timeout=max(30.0, 3 * timeout),
        body_cap=body_cap,
        routes=load_routes(lab_routes) if lab_routes is not None else {},
        ca_file=str(ca_file) if ca_file is not None else None,
    )
    if ca_file is not None and not ca_file.is_file():
        raise InputError("CA file does not exist", file=str(ca_file))
    confirm_risk(yes)
    console = make_console(stderr=True)
    outcomes: Counter[str] = Counter()
    try:
        handle = output.open("wb")
    except OSError as exc:
        raise InputError(f"cannot write output: {exc.strerror}", file=str(output)) from exc
    with (
        handle,
        Progress(
            TextColumn("[bold]measuring"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[last]}"),
            console=console,
        ) as progress,
    ):
        task = progress.add_task("probe", total=len(urls), last="")

        def done(m: dict[str, object]) -> None:
            # Counted by the analysis `netfreedom analyze` runs (fingerprints aside), so the two agree.
            verdict = analyze_line(msgspec.json.encode(m))
            outcome = verdict.outcome.value if verdict is not None else "unreadable"
            outcomes[outcome] += 1
            progress.update(task, advance=1, last=f"{m.get('input')} → {outcome}")

        count = asyncio.run(
            run_probe(urls, settings, handle, vantage=Vantage(cc, asn), parallel=parallel, on_done=done)
        )
    console.print(f"{count} measurements written to {output}")
    if outcomes:
        counts = "  ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
        console.print(f"  {counts}  (as `netfreedom analyze` reads them, before blockpage fingerprints)")


def register(app: typer.Typer) -> None:
    app.add_typer(probe_app, name="probe")
