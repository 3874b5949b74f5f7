"""CSV for spreadsheets: untrusted text that looks like a formula is neutralised, numbers are kept."""

from __future__ import annotations

import csv
import io

from netfreedom.report.tabular import to_csv


def test_formula_like_text_is_prefixed_and_numbers_are_not() -> None:
    rows = [
        ('=HYPERLINK("http://evil","x")', -3, None, ["a", "b"]),
        ("+1-2", 2.5, "@SUM(A1)", ()),
        ("https://ok.example/", 0, "-network", ("x",)),
    ]
    parsed = list(csv.reader(io.StringIO(to_csv(("url", "n", "name", "tags"), rows))))
    assert parsed[0] == ["url", "n", "name", "tags"]
    assert parsed[1] == ['\'=HYPERLINK("http://evil","x")', "-3", "", "a; b"]
    assert parsed[2] == ["'+1-2", "2.5", "'@SUM(A1)", ""]
    assert parsed[3] == ["https://ok.example/", "0", "'-network", "x"]
