"""The guard of ``ANALYSIS_VERSION``: the verdicts of the shared corpus may change only with the version.

Stores redo their verdicts only when ``ANALYSIS_VERSION`` changes; a rule changed without a bump leaves old
and new verdicts mixed.  The digest of every verdict of ../shared/data's measurements (and of fixed
variations of them, :mod:`netfreedom.analysis.digest`) is pinned per version in ``VERDICT_DIGESTS``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from netfreedom.analysis import ANALYSIS_VERSION, VERDICT_DIGESTS, FingerprintDB
from netfreedom.analysis.digest import verdicts_digest
from netfreedom.analysis.fingerprint_sources import load_fingerprints, sources_in_dir
from netfreedom.analysis.web_connectivity import verdict


@pytest.fixture(scope="module")
def fingerprints(shared_data: Path) -> FingerprintDB:
    return load_fingerprints(sources_in_dir(shared_data))


def _digest(measurements_dir: Path, fingerprints: FingerprintDB) -> str:
    files = sorted(measurements_dir.glob("*.jsonl"))
    assert len(files) >= 30
    return verdicts_digest(((p.name, p.read_bytes()) for p in files), fingerprints)


def test_versions_are_consecutive_and_the_current_one_is_pinned() -> None:
    assert sorted(VERDICT_DIGESTS) == list(range(1, ANALYSIS_VERSION + 1)), (
        f"VERDICT_DIGESTS must hold one digest per version 1..{ANALYSIS_VERSION} (ANALYSIS_VERSION)"
    )


def test_verdicts_change_only_with_analysis_version(
    measurements_dir: Path, fingerprints: FingerprintDB
) -> None:
    digest = _digest(measurements_dir, fingerprints)
    pinned = VERDICT_DIGESTS.get(ANALYSIS_VERSION)
    assert digest == pinned, (
        f"The verdicts of the shared corpus changed (digest {digest}; pinned for ANALYSIS_VERSION "
        f"{ANALYSIS_VERSION}: {pinned}).\n"
        "If a rule, a confidence or the fingerprint overlay changed on purpose, in "
        "src/netfreedom/analysis/__init__.py set\n"
        f"    ANALYSIS_VERSION = {ANALYSIS_VERSION + 1}\n"
        f'and add to VERDICT_DIGESTS  {ANALYSIS_VERSION + 1}: "{digest}",\n'
        "with a comment saying what changed.\n"
        "If your branch already bumped the version and main does not have it yet, replace that version's "
        "digest instead; never change a digest that is on main (rebase, then bump past it).\n"
        "If nothing was meant to change, this is a regression: find which verdicts moved."
    )


def test_the_digest_sees_a_changed_rule(
    measurements_dir: Path, fingerprints: FingerprintDB, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A changed confidence moves it, and so does a legacy rule the corpus reaches only when varied."""
    before = _digest(measurements_dir, fingerprints)
    monkeypatch.setattr(verdict, "OK_MATCH", 0.84)
    assert _digest(measurements_dir, fingerprints) != before
    monkeypatch.undo()
    from netfreedom.analysis.web_connectivity import legacy

    real = legacy.http_matches

    def python_truthiness(keys, flavor):  # type: ignore[no-untyped-def]
        found = real(keys, flavor)
        return None if found is not None and found[3] is None else found

    monkeypatch.setattr(legacy, "http_matches", python_truthiness)
    assert _digest(measurements_dir, fingerprints) != before
