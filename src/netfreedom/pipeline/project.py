"""A project folder: ``netfreedom.toml`` says where the measurements, test lists, fingerprints, scores and
map come from, which editions to compute and where to publish.  See docs/report.md for the format.

Relative paths in the file are relative to the project folder.  Remote inputs are URLs of their public
homes; ``[mirror_layout]`` says where each lives under a mirror root, so one ``--mirror ROOT`` (a folder or
a base URL) serves every remote input of the project — tests and offline builds point it at a local copy.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import msgspec

from netfreedom.analysis.fingerprint_sources import CP_HOME, OONI_HOME
from netfreedom.errors import ConfigError, InputError
from netfreedom.ingest.aggregation import is_aggregation_url, parse_dimensions

PROJECT_FILE = "netfreedom.toml"
TESTLISTS_HOME = "https://raw.githubusercontent.com/citizenlab/test-lists/master/lists/"
WORLD_ATLAS = "https://unpkg.com/world-atlas@2.0.2/countries-50m.json"


class Source(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Measurements: a local ``path`` (file or folder) or an OONI archive ``url``, with optional filters."""

    path: str | None = None
    url: str | None = None
    since: str | None = None
    until: str | None = None
    countries: list[str] = []
    tests: list[str] = []


class AggregateSource(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """OONI aggregation results: a local ``path`` (file or folder of exports) or an aggregation API ``url``,
    with the ``dimensions`` its rows lack (``probe_cc``, ``test_name``, …, as ``ingest --dimension``)."""

    path: str | None = None
    url: str | None = None
    dimensions: dict[str, str] = {}


class Workbook(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A Freedom House workbook imported as expert scores."""

    url: str | None = None
    path: str | None = None
    year: int | None = None


class FingerprintSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Blockpage fingerprints: each a URL or a path; unset ones use the analysis defaults (public homes)."""

    dns: str | None = None
    http: str | None = None
    cp_blockpages: str | None = None
    cp_false_positives: str | None = None


class IndexSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    methodology: str = "fotn-legacy"
    scores: list[str] = []
    freedom_house: list[Workbook] = []


class Project(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    title: str = "Internet freedom index"
    years: list[int]
    output: str = "site"
    store: str = "netfreedom.duckdb"
    sources: list[Source] = []
    aggregates: list[AggregateSource] = []
    testlists: str = TESTLISTS_HOME
    fingerprints: FingerprintSpec = msgspec.field(default_factory=FingerprintSpec)
    map: str = WORLD_ATLAS
    index: IndexSpec = msgspec.field(default_factory=IndexSpec)
    mirror_layout: dict[str, str] = {}
    root: str = ""  # the project folder; set on load, never written in the file

    def path(self, value: str) -> Path:
        """A path from the file, resolved against the project folder."""
        p = Path(value)
        return p if p.is_absolute() else Path(self.root) / p

    @property
    def store_path(self) -> Path:
        return self.path(self.store)

    @property
    def output_path(self) -> Path:
        return self.path(self.output)

    def mirrors(self, specs: list[str] | tuple[str, ...]) -> dict[str, str]:
        """``--mirror`` values expanded with the project's mirror layout.

        ``URL_PREFIX=TARGET`` maps one prefix, as ``netfreedom.fetch.parse_mirrors`` does.  A bare ``ROOT``
        maps each ``[mirror_layout]`` prefix to ``ROOT/<its relative path>`` and everything else to
        ``ROOT/<host>/<path>``.
        """
        from netfreedom.fetch import parse_mirrors

        out: dict[str, str] = {}
        for spec in specs:
            parsed = parse_mirrors([spec])
            if "*" in parsed:
                root = parsed["*"]
                if not root.startswith(("http://", "https://")):
                    root = str(Path(root).resolve())
                for prefix, rel in self.mirror_layout.items():
                    out[prefix] = root.rstrip("/") + "/" + rel.lstrip("/")
                out["*"] = root
            else:
                out.update(parsed)
        return out


def find_project_file(where: Path) -> Path:
    path = where / PROJECT_FILE if where.is_dir() else where
    if not path.is_file():
        raise ConfigError(f"no {PROJECT_FILE} here (create one with `netfreedom init`)", file=str(path))
    return path


def locate_store(db: Path | None = None, project: Path | None = None) -> Path:
    """The store a command reads: ``db``, else ``project``'s (its netfreedom.toml's ``store``), else
    ``$NETFREEDOM_DB`` or ``./netfreedom.duckdb``.  A store that does not exist is an error naming the
    stores found nearby, so a user who built a project elsewhere sees how to reach it."""
    from netfreedom.errors import InputError, StoreError
    from netfreedom.store import default_db_path

    if db is not None and project is not None:
        raise InputError("give --db or --project, not both")
    if db is not None:
        path = db
    elif project is not None:
        path = load_project(project).store_path
    else:
        path = default_db_path()
    if path.is_file():
        return path
    nearby = stores_nearby(Path.cwd())
    if nearby:
        hint = "stores nearby: " + ", ".join(nearby)
    else:
        hint = "run `netfreedom build PROJECT_DIR` or `netfreedom ingest` first"
    raise StoreError(f"no store at {path} ({hint})")


_SKIP = {".venv", "venv", "node_modules", "__pycache__"}


def stores_nearby(root: Path, *, depth: int = 3, limit: int = 5) -> list[str]:
    """Options that open the stores at most ``depth`` folders below ``root``: ``--project DIR`` for a
    project whose store was built, ``--db FILE`` for any other ``.duckdb`` file (at most ``limit``)."""
    import os

    projects: list[tuple[Path, Path]] = []
    files: list[Path] = []
    for folder, dirs, names in os.walk(root):
        here = Path(folder)
        rel = here.relative_to(root)
        # Hidden folders, virtualenvs and the stores' own Parquet folders hold no projects.
        dirs[:] = (
            []
            if len(rel.parts) >= depth
            else sorted(
                d for d in dirs if d not in _SKIP and not d.startswith(".") and not d.endswith(".parquet")
            )
        )
        if PROJECT_FILE in names:
            try:
                store = load_project(here).store_path
            except ConfigError:
                continue
            if store.is_file():
                projects.append((rel, store.resolve()))
        files.extend(rel / n for n in sorted(names) if n.endswith(".duckdb"))
    owned = {store for _, store in projects}
    found = [f"--project {folder}" for folder, _ in projects]
    found += [f"--db {f}" for f in files if (root / f).resolve() not in owned]
    return found[:limit]


def load_project(where: Path) -> Project:
    """Read and validate a project (a folder holding ``netfreedom.toml``, or the file itself)."""
    path = find_project_file(where)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", file=str(path)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=str(path)) from exc
    data.pop("root", None)
    try:
        project = msgspec.convert(data, type=Project)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid project: {exc}", file=str(path)) from exc
    for i, src in enumerate(project.sources, 1):
        if (src.path is None) == (src.url is None):
            raise ConfigError(f"sources #{i}: give exactly one of `path` or `url`", file=str(path))
    for i, agg in enumerate(project.aggregates, 1):
        if (agg.path is None) == (agg.url is None):
            raise ConfigError(f"aggregates #{i}: give exactly one of `path` or `url`", file=str(path))
        if agg.url is not None and not is_aggregation_url(agg.url):
            raise ConfigError(
                f"aggregates #{i}: {agg.url!r} is not an aggregation API URL (…/api/v1/aggregation?…)",
                file=str(path),
            )
        try:
            parse_dimensions([f"{k}={v}" for k, v in agg.dimensions.items()])
        except InputError as exc:
            raise ConfigError(f"aggregates #{i}: {exc.args[0]}", file=str(path)) from exc
    for i, wb in enumerate(project.index.freedom_house, 1):
        if (wb.path is None) == (wb.url is None):
            raise ConfigError(
                f"index.freedom_house #{i}: give exactly one of `path` or `url`", file=str(path)
            )
    if not project.years:
        raise ConfigError("`years` must list at least one edition", file=str(path))
    if not project.index.scores and not project.index.freedom_house:
        raise ConfigError("[index] needs `scores` files or a `freedom_house` workbook", file=str(path))
    return msgspec.structs.replace(project, root=str(path.parent.resolve()))


# Freedom House's published FOTN 2018 workbook (category scores and status of 65 countries): the scores a
# starter project builds with until its own are added.
FH_2018_WORKBOOK = (
    "https://raw.githubusercontent.com/ccjolley/DECA/e7b61d969d9fa048d9a18e35316d0d5208e21ae8/data/"
    "FINAL_DATA_FOTN2018_TOTAL_and_CATEGORY_SCORES.xlsx"
)
STARTER_YEAR = 2018

STARTER = """# A netfreedom project, read by `netfreedom build DIR`.  Paths are relative to this folder.
# Remote inputs are fetched from their public homes (with a cache, ~/.cache/netfreedom); for offline use,
# `netfreedom build DIR --mirror ROOT` serves each from ROOT/<path given in [mirror_layout]>.

title = {title}

# Editions (years) to compute.  Each needs expert scores for that year: the Freedom House workbook below
# gives 2018's; put your own score files in scores/ for other editions.
years = [{year}]

# Where the store (DuckDB + Parquet) and the published site go.
store = "netfreedom.duckdb"
output = "site"

# Citizen Lab test lists (URL categories): a folder, or the public home.
testlists = "{testlists}"

# World map shapes (world-atlas TopoJSON).
map = "{world}"

# Blockpage fingerprints: OONI's CSVs and Censored Planet's signatures; unset = their public homes.
fingerprints = {{}}

# Measurement sources: local files/folders (`path`) or the OONI archive (`url`), with optional filters.
# Put OONI measurement files (.jsonl, .jsonl.gz, .json, postcans) in measurements/, or read the archive:
# [[sources]]
# url = "s3://ooni-data-eu-fra/"     # the bucket root: jsonl/ before 2020-10-21, raw/ after, by date
# since = "{year}-01-01"
# until = "{year}-01-02"
# countries = ["IR"]
# tests = ["web_connectivity"]
[[sources]]
path = "measurements/"

# OONI aggregation results (counts per country, day, network, test, domain): evidence for countries and tests
# without raw measurements.  A file or folder of exports (`path`), or an aggregation API URL (`url`, whose
# query parameters are the dimensions); `dimensions` supplies what the rows lack (the query's filters).
# [[aggregates]]
# url = "https://api.ooni.io/api/v1/aggregation?probe_cc=IR&test_name=web_connectivity&since={year}-01-01&until={next_year}-01-01&axis_x=measurement_start_day"
# [[aggregates]]
# path = "aggregates/IR_telegram_day-asn.csv"
# dimensions = {{ probe_cc = "IR", test_name = "telegram" }}

[index]
# A shipped methodology id (fotn-legacy: 0 = best, fotn: 100 = best) or a path to a methodology TOML.
methodology = "fotn-legacy"
# Expert score files (TOML per country-year, or CSV), relative to this folder.
scores = ["scores/"]
# Freedom House workbooks to import as scores (Freedom on the Net 2018, 65 countries):
[[index.freedom_house]]
url = "{workbook}"
year = 2018

# Where each remote input lives under a --mirror ROOT (prefix of the public URL = path under ROOT).
[mirror_layout]
"{testlists}" = "test-lists/lists/"
"https://unpkg.com/world-atlas@2.0.2/" = "geo/"
"{ooni_fingerprints}" = "ooni/fingerprints/"
"{cp_fingerprints}" = "censoredplanet/"
"{workbook}" = "fotn/fotn_2018_freedomhouse.xlsx"
"""


def write_starter(folder: Path, *, title: str, year: int) -> list[Path]:
    """A commented starter project in ``folder`` (which must not hold a project yet)."""
    target = folder / PROJECT_FILE
    if target.exists():
        raise ConfigError("a project already exists here; not overwriting it", file=str(target))
    # A JSON string is a valid TOML basic string: quotes and backslashes in the title stay text.
    text = STARTER.format(
        title=json.dumps(title),
        year=year,
        next_year=year + 1,
        testlists=TESTLISTS_HOME,
        world=WORLD_ATLAS,
        ooni_fingerprints=OONI_HOME,
        cp_fingerprints=CP_HOME,
        workbook=FH_2018_WORKBOOK,
    )
    example = folder / "scores" / "README.md"
    measurements = folder / "measurements" / "README.md"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "scores").mkdir(exist_ok=True)
        (folder / "measurements").mkdir(exist_ok=True)
        target.write_text(text, encoding="utf-8")
        if not measurements.exists():
            measurements.write_text(
                "Put OONI measurement files here (.jsonl, .jsonl.gz, .json, .post, postcan .tar.gz);"
                " `netfreedom build` ingests them.\n",
                encoding="utf-8",
            )
        if not example.exists():
            example.write_text(
                "Put expert score files here: one TOML per country-year or CSVs"
                " (format: docs/methodology.md).\n",
                encoding="utf-8",
            )
    except OSError as exc:
        raise ConfigError(f"cannot create the project: {exc.strerror or exc}", file=str(folder)) from exc
    return [target, example, measurements]
