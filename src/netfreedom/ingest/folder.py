"""Read a local folder: every measurement file below it, in a stable order, pruned by the filters when
the folder follows an OONI archive layout (where only one of each postcan/jsonl.gz twin pair is read), and
every CSV file holding an OONI aggregation result (other CSV files, such as test lists, are passed over)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from netfreedom.ingest.aggregation import looks_like_aggregation, read_head
from netfreedom.ingest.files import is_measurement_file, read_file
from netfreedom.ingest.layout import TWIN_REASON, Filters, bucket_time, pair_twins, stamp_bucket
from netfreedom.ingest.lines import MAX_LINE
from netfreedom.ingest.records import Item, Problem, Skipped

EMPTY_FOLDER = "empty folder: no measurement files in it"


def walk(root: Path, filters: Filters) -> Iterator[Path | Problem | Skipped]:
    """Measurement files under ``root`` (sorted, hidden entries skipped, layout folders pruned), and a
    ``Problem`` for each folder that cannot be read, each symbolic link to a folder (not followed: a link
    can loop, or lead out of the tree), and for a tree without any measurement file (unless the filters
    pruned part of it: then nothing matched, which is not a problem with the input); a ``Skipped`` for
    each ``.jsonl.gz`` twin of a postcan in the same folder (only the postcan is read)."""
    if not root.is_dir():
        return  # nothing to walk: the caller says why (read_source reads it as a file; a mirror is absent)
    errors: list[OSError] = []
    found = pruned = False
    for dirpath, dirnames, filenames in os.walk(root, onerror=errors.append):
        yield from _unreadable(errors, root)
        here = Path(dirpath)
        kept = []
        for d in sorted(dirnames):
            if d.startswith("."):
                continue
            if (here / d).is_symlink():
                yield Problem(str(here / d), 0, "symbolic link to a folder: not followed")
            elif filters.allows_path((here / d).parts):
                kept.append(d)
            else:
                pruned = True
        dirnames[:] = kept
        names = [
            name
            for name in sorted(filenames)
            if not name.startswith(".")
            and (is_measurement_file(name) or (_is_csv(name) and _aggregation_csv(here / name)))
        ]
        keep, twins = pair_twins(names)
        for name in twins:
            yield Skipped(str(here / name), TWIN_REASON)
        for name in keep:
            found = True
            yield here / name
    yield from _unreadable(errors, root)
    if not found and not pruned:
        yield Problem(str(root), 0, EMPTY_FOLDER)


def _unreadable(errors: list[OSError], root: Path) -> Iterator[Problem]:
    while errors:
        exc = errors.pop(0)
        yield Problem(str(exc.filename or root), 0, f"cannot read folder: {exc.strerror or exc}")


def measurement_files(root: Path, filters: Filters) -> Iterator[Path]:
    """The files of :func:`walk` (for sizes and listings; the readers report its problems)."""
    for item in walk(root, filters):
        if isinstance(item, Path):
            yield item


def _is_csv(name: str) -> bool:
    return name.lower().endswith((".csv", ".csv.gz"))


def _aggregation_csv(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return looks_like_aggregation(read_head(f.read(64 * 1024)))
    except OSError:
        return True  # let the reader report why it cannot be read


def read_folder(
    root: Path,
    filters: Filters,
    *,
    max_line: int = MAX_LINE,
    dimensions: Mapping[str, str] | None = None,
    keys: bool = False,
) -> Iterator[Item]:
    for item in walk(root, filters):
        if isinstance(item, Path):
            items = read_file(item, max_line=max_line, dimensions=dimensions, keys=keys)
            yield from stamp_bucket(items, bucket_time(item.as_posix()))
        else:
            yield item
