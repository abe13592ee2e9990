"""Process-wide settings that make a long-running intake process cheaper per message.

Both are applied once, when a gateway is built (server, worker, CLI, benchmark alike).

* The C allocator: glibc hands every buffer above the (adaptive) mmap threshold its own
  fresh mapping and gives it back on free. Intake handles megabyte buffers all the time
  (raw originals, MTOM parts, decrypted attachments), so each one would be faulted in page
  by page and zeroed again — on a virtual machine several microseconds per 4 KiB page, more
  than hashing the same bytes. A fixed threshold above the usual buffer sizes and a trim
  threshold as high keep such memory in the heap for reuse. glibc keeps that much per
  arena and makes up to eight arenas per core (threads of the API's pool each take one), so
  the number of arenas is capped too: at most ``ARENA_MAX x TRIM_THRESHOLD`` stays resident
  beyond what is in use.
* The cyclic garbage collector: the loaded configuration (mappings, schemas, catalog,
  adapters, imported modules) lives as long as the process. Freezing it keeps it out of
  the collector's full passes, which mapping a large application (thousands of field
  objects) would otherwise trigger over and over.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import sys
from typing import Final

log = logging.getLogger(__name__)

# mallopt(3) parameter numbers (malloc.h)
_M_TRIM_THRESHOLD: Final = -1
_M_MMAP_THRESHOLD: Final = -3
_M_ARENA_MAX: Final = -8
MMAP_THRESHOLD: Final = 32 * 1024 * 1024  # larger buffers still get their own mapping
TRIM_THRESHOLD: Final = 32 * 1024 * 1024
ARENA_MAX: Final = 4

_allocator_tuned = False


def tune_allocator() -> bool:
    """Apply the allocator thresholds once; False where the C library is not glibc."""
    global _allocator_tuned
    if _allocator_tuned:
        return True
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    settings = ((_M_ARENA_MAX, ARENA_MAX), (_M_MMAP_THRESHOLD, MMAP_THRESHOLD), (_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    if not all(mallopt(parameter, value) == 1 for parameter, value in settings):
        log.warning("could not set the allocator thresholds; large buffers stay on fresh mappings")
        return False
    _allocator_tuned = True
    return True


def freeze_loaded_objects() -> None:
    """Move everything alive now out of reach of the collector's generations."""
    gc.collect()
    gc.freeze()
