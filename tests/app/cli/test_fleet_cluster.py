"""`rarewatch train-fleet --address`: the same fleet on a Ray cluster started with `ray start`.

Its own module: a cluster's start costs more than the local Ray of tests/app/cli/test_fleet.py.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.fleet import ray_head
from models.artifact import ModelStore
from tests.conftest import tiny_frame


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A folder with a short path: Ray's socket paths under it must stay within 107 bytes."""
    folder = Path(tempfile.mkdtemp(prefix="rw-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_a_fleet_reaches_an_existing_cluster_by_its_address_alone(short_tmp: Path) -> None:
    (short_tmp / "fleet").mkdir()
    tiny_frame(80).to_csv(short_tmp / "fleet" / "p1.csv", index=False)
    command = [sys.executable, "-m", "app.cli", "--model-dir", str(short_tmp / "models")]
    command += ["train-fleet", str(short_tmp / "fleet"), "--time-column", "time"]
    command += ["--lookback", "4", "--epochs", "1", "--units", "4", "--quiet"]
    with ray_head(short_tmp, cpus=1) as address:
        done = subprocess.run(
            [*command, "--address", address],
            capture_output=True,
            text=True,
            env={**os.environ, "RAY_AUTH_MODE": "token"},  # `ray start` asks for its token
            timeout=300,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "1 entity: 1 trained, 0 skipped, 0 failed"
    assert ModelStore(short_tmp / "models").names() == ["p1"]
