"""Read a local folder: every measurement file below it, in a stable order, pruned by the filters when
the folder follows an OONI archive layout, and every CSV file holding an OONI aggregation result (other
CSV files, such as test lists, are passed over)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from netfreedom.ingest.aggregation import looks_like_aggregation, read_head
from netfreedom.ingest.files import is_measurement_file, read_file
from netfreedom.ingest.layout import Filters
from netfreedom.ingest.lines import MAX_LINE
from netfreedom.ingest.records import Item


def measurement_files(root: Path, filters: Filters) -> Iterator[Path]:
    """Measurement files under ``root`` (sorted, hidden entries skipped), pruning layout folders."""
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d for d in dirnames if not d.startswith(".") and filters.allows_path((here / d).parts)
        )
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            if is_measurement_file(name) or (_is_csv(name) and _aggregation_csv(here / name)):
                yield here / name


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
) -> Iterator[Item]:
    for path in measurement_files(root, filters):
        yield from read_file(path, max_line=max_line, dimensions=dimensions)
