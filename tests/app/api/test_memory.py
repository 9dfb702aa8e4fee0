"""app/api/memory.py: glibc keeps a freed large block for the next allocation of its size."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from app.api.memory import keep_freed_memory
from app.settings import Settings

# In a fresh process (the settings are process-wide): a thread other than the main one (as
# the server's worker threads) allocates a 20 MB block, writes it, frees it, and does it again;
# the page faults of the second time tell whether it got the first block's pages back.
SECOND_BLOCK_FAULTS = """
import resource, sys, threading
from app.api.memory import keep_freed_memory
set_ = keep_freed_memory(int(sys.argv[1]))
faults = []
def twice():
    for _ in range(2):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        block = b"\\x01" * (20 * 1024 * 1024)  # written through, page by page
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
        del block
thread = threading.Thread(target=twice)
thread.start()
thread.join()
print(set_, faults[1])
"""
BLOCK_PAGES = 20 * 1024 * 1024 // 4096


def second_block_faults(keep_mib: int) -> tuple[bool, int]:
    out = subprocess.run(
        [sys.executable, "-c", SECOND_BLOCK_FAULTS, str(keep_mib)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return out[0] == "True", int(out[1])


glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")


@glibc_only
def test_a_freed_block_is_reused_without_new_pages():
    was_set, faults = second_block_faults(64)
    assert was_set
    assert faults < BLOCK_PAGES // 10


@glibc_only
def test_glibc_defaults_give_the_second_block_fresh_pages():
    # the behaviour the setting exists for: with glibc's moving thresholds, the second block
    # of the same size still comes from freshly mapped pages (and 0 leaves them as they are)
    was_set, faults = second_block_faults(0)
    assert not was_set
    assert faults > BLOCK_PAGES // 2


def test_zero_leaves_the_defaults():
    assert keep_freed_memory(0) is False


def test_the_setting_reads_from_the_environment(monkeypatch):
    assert Settings().keep_freed_memory_mb == 64
    monkeypatch.setenv("RAREWATCH_KEEP_FREED_MEMORY_MB", "0")
    assert Settings().keep_freed_memory_mb == 0
    monkeypatch.setenv("RAREWATCH_KEEP_FREED_MEMORY_MB", "-1")
    with pytest.raises(ValueError, match="keep_freed_memory_mb"):
        Settings()
