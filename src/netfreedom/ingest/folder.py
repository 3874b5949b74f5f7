"""Read a local folder: every measurement file below it, in a stable order, pruned by the filters when
the folder follows an OONI archive layout."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

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
            if not name.startswith(".") and is_measurement_file(name):
                yield here / name


def read_folder(root: Path, filters: Filters, *, max_line: int = MAX_LINE) -> Iterator[Item]:
    for path in measurement_files(root, filters):
        yield from read_file(path, max_line=max_line)
