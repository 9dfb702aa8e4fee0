"""The installed web stack is at or above the versions that fix its known CVEs (pyproject.toml
sets these floors; this catches an environment that was installed some other way)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import pytest
from packaging.version import Version

FLOORS = {
    # CVE-2026-48710 (Host header poisons request.url.path), CVE-2026-54283 (form limits
    # ignored), GHSA-jp82-jpqv-5vv3, GHSA-wqp7-x3pw-xc5r; CVE-2025-62727 before them
    "starlette": "1.3.1",
    "h11": "0.16.0",  # CVE-2025-43859: lenient chunked-encoding parsing (request smuggling)
    "keras": "3.15.1",  # safe_mode bypasses up to CVE-2026-12480 (RELIABILITY.md)
    # not a dependency (no form routes); should one bring it in: GHSA-v9pg-7xvm-68hf and earlier
    "python-multipart": "0.0.31",
}
OPTIONAL = {"keras", "python-multipart"}  # keras only with the train extra


@pytest.mark.parametrize(("package", "floor"), FLOORS.items(), ids=FLOORS)
def test_each_package_is_at_least_its_fixed_version(package: str, floor: str) -> None:
    try:
        installed = version(package)
    except PackageNotFoundError:
        assert package in OPTIONAL, f"{package} is not installed"
        return
    assert Version(installed) >= Version(floor), f"{package} {installed} < {floor}"
