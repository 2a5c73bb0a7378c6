"""Memory a fit has freed handed back to the operating system.

A fit allocates and frees large temporary arrays (an enumeration level, a
batch of predictions). numpy and torch take them from the C allocator, and
glibc's malloc keeps what was freed inside its heap rather than returning it:
after a 15 s fit of a 500-row table its heap held about 450 MB of free memory,
all of it resident. The next fit reuses it, so it does not grow from fit to
fit, but a process that goes on to other work (a notebook) holds it for
nothing. ``malloc_trim(0)`` returns every whole free page of every arena. On
a GPU, torch's caching allocator keeps freed blocks the same way.

Imports nothing of symreg.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["release_memory", "resident_bytes"]

_TRIM = None   # glibc's malloc_trim once looked up; False where there is none


def _malloc_trim():
    global _TRIM
    if _TRIM is None:
        _TRIM = False
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                trim = libc.malloc_trim   # glibc only (not musl)
                trim.argtypes = [ctypes.c_size_t]
                trim.restype = ctypes.c_int
                _TRIM = trim
            except (OSError, AttributeError):
                pass
    return _TRIM


def release_memory() -> bool:
    """Return the C heap's free pages to the operating system, and the blocks
    torch's CUDA caching allocator holds unused to the GPU.

    Returns
    -------
    bool
        True when glibc's ``malloc_trim`` ran (it does nothing elsewhere: other
        allocators and systems return memory by their own rules).
    """
    torch = sys.modules.get("torch")
    # only where CUDA is in use already: asking would start it
    if torch is not None and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
    trim = _malloc_trim()
    if not trim:
        return False
    trim(0)
    return True


def resident_bytes() -> tuple[int, int] | None:
    """The process's resident size now and its peak (``VmRSS``, ``VmHWM`` of
    ``/proc/self/status``) in bytes; None where there is no such file."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        return (int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024)
    except (OSError, KeyError, ValueError):
        return None
