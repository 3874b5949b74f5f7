"""Write the validation section of docs/methodology.md from the example build (computed, not pasted).

    python scripts/validation_docs.py [--db STORE] [--check]

Without ``--db`` it builds ``examples/fotn-2018`` offline (``--mirror ../shared/data``) into a temporary
folder first.  The section lies between the ``validation:begin``/``validation:end`` markers; ``--check``
exits 1 when it differs from what the store gives (``tests/test_build.py`` checks the same on its build).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "methodology.md"
EXAMPLE = ROOT / "examples" / "fotn-2018"
DATA = ROOT.parent / "shared" / "data"
YEAR = 2018
BEGIN = "<!-- validation:begin (scripts/validation_docs.py writes this section; do not edit) -->"
END = "<!-- validation:end -->"
_SECTION = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)


def render(db: Path) -> str:
    """The section's text for the store at ``db``."""
    import duckdb

    from netfreedom.evidence.validation import validate

    con = duckdb.connect(str(db), read_only=True)
    try:

        def query(sql: str, params: object = None) -> object:
            return con.sql(sql, params=list(params) if params else None).to_arrow_table()  # type: ignore[call-overload]

        v = validate(query, YEAR)  # type: ignore[arg-type]
    finally:
        con.close()
    lines = [
        BEGIN,
        "",
        f"On the example project (`examples/fotn-2018`: the {YEAR} Freedom on the Net totals and the sample "
        "OONI measurements in `../shared/data`), `netfreedom evidence validate --year 2018` gives:",
        "",
        f"> {v.summary()}.",
        "",
    ]
    if v.agreement is not None:
        lines += [
            "The countries whose two ranks differ most (rank 1 = most free):",
            "",
            "| country | measured score | expert, 100 = most free | measured rank | expert rank |",
            "|---|---:|---:|---:|---:|",
        ]
        names = {p.iso2: p.country for p in v.pairs}
        for d in v.agreement.disagreements:
            lines.append(f"| {names[d.key]} ({d.key}) | {d.x:g} | {d.y:g} | {d.rank_x:g} | {d.rank_y:g} |")
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def build_example(folder: Path) -> Path:
    db = folder / "store.duckdb"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "netfreedom",
            "build",
            str(EXAMPLE),
            "--mirror",
            str(DATA),
            "--db",
            str(db),
            "--output",
            str(folder / "site"),
            "--cache-dir",
            str(folder / "cache"),
        ],
        check=True,
        capture_output=True,
    )
    return db


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nf-validation-") as tmp:
        db = args.db or build_example(Path(tmp))
        section = render(db)
    text = DOC.read_text(encoding="utf-8")
    if not _SECTION.search(text):
        print(f"{DOC}: no validation markers", file=sys.stderr)
        return 1
    new = _SECTION.sub(lambda _: section, text)
    if args.check:
        if new != text:
            print(
                "docs/methodology.md's validation section is stale: run `python scripts/validation_docs.py`",
                file=sys.stderr,
            )
            return 1
        return 0
    DOC.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
