import platform

import pytest

from app.allocator import keep_freed_memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt only")
def test_glibc_takes_the_thresholds() -> None:
    # mallopt answers 0 for a value it refuses (an mmap threshold past its maximum, say)
    assert keep_freed_memory() is True
