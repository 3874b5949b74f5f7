"""extras.require: the one check every command makes before it uses an optional part."""

from __future__ import annotations

import sys

import pytest

from netfreedom.errors import MissingExtraError, NetfreedomError
from netfreedom.extras import EXTRAS, installed, require


def test_installed_extras_pass_quietly() -> None:
    assert all(installed(extra) for extra in EXTRAS)  # the dev install has every extra
    require("anything", *EXTRAS)


def test_a_missing_extra_names_its_packages_and_the_pip_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "dns", None)  # what `import dns` meets when absent
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    with pytest.raises(MissingExtraError) as caught:
        require("netfreedom control serve", "probe", "web", "fh")
    error = caught.value
    assert isinstance(error, NetfreedomError)
    assert (error.extras, error.modules) == (("probe", "web"), ("dnspython", "uvicorn"))
    assert str(error) == (
        "netfreedom control serve needs the optional extras probe, web (missing: dnspython, uvicorn)\n"
        "install with: pip install 'netfreedom[probe,web]'"
    )
    assert not installed("probe") and installed("fh")
