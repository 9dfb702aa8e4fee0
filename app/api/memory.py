"""glibc's malloc told to keep the memory of one large request for the next one.

By default glibc serves each allocation above a moving threshold (128 KiB at first) with fresh
pages of its own mapping, unmapped again when freed, and gives the top of its heap back to the
OS once more than a moving amount is free there. A 10,000-row `/detect` allocates large blocks
(the 11.6 MB body, its numbers, the windows, the errors, the answer), on several threads.
Whether those blocks came back from the heap or from freshly mapped, zeroed
pages then depended on each server process's history: some processes faulted in thousands of
new pages on every such request and took markedly longer for it (`python -m bench.perf.run`
counts the page faults per request, with and without this setting).

Fixed thresholds and one arena make every process alike: blocks up to 32 MiB come from the
heap, every thread allocates from the same one (a block freed by one thread serves the next
request's, whichever thread that is; docs/benchmarks.md's /detect/last figures include the
shared lock), and up to `keep_mib` of freed memory stays in the process for the next request.
The price is that much resident memory kept after a large request, which is why it is a
setting (RAREWATCH_KEEP_FREED_MEMORY_MB; 0 leaves glibc's defaults). Set before the server
starts any thread: arenas made earlier would stay.
"""

from __future__ import annotations

import ctypes
import platform

# mallopt's parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
# glibc refuses an mmap threshold above HEAP_MAX_SIZE / 2, which is 32 MiB on 64-bit systems
MAX_MMAP_THRESHOLD = 32 * 1024 * 1024


def keep_freed_memory(keep_mib: int) -> bool:
    """Set glibc's thresholds for this process (see the module's docstring); True when they
    were set, False for 0 or where the C library is not glibc (musl, macOS: left as they are)."""
    if keep_mib <= 0 or platform.libc_ver()[0] != "glibc":
        return False
    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    keep = keep_mib * 1024 * 1024
    # mallopt answers 1 when it took the value
    return (
        mallopt(M_ARENA_MAX, 1) == 1
        and mallopt(M_MMAP_THRESHOLD, min(keep, MAX_MMAP_THRESHOLD)) == 1
        and mallopt(M_TRIM_THRESHOLD, keep) == 1
    )
