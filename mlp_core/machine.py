"""What a measurement's machine is: CPU and its vector extensions, BLAS and its kernel, load.

The numbers a benchmark publishes mean little without these: an OpenBLAS pinned to an older kernel
(``OPENBLAS_CORETYPE``) runs 1.5-1.8x slower on an AVX-512 CPU, and a 2-core machine under load
slows a BLAS that spins its threads several-fold.
"""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Callable
from typing import TypeVar

PIN_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
#: OpenBLAS kernels that use AVX-512
AVX512_KERNELS = ("skylakex", "cooperlake", "sapphirerapids")
T = TypeVar("T")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_flags() -> list[str]:
    """The CPU's vector extensions that matter to BLAS kernels: avx2, fma, avx512f, ..."""
    wanted = ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_bf16", "amx_tile")
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return [w for w in wanted if w in flags]
    except OSError:
        pass
    return []


def blas_pins() -> dict[str, str]:
    """The OpenBLAS environment variables that pin its kernel, as set in this process."""
    return {k: os.environ[k] for k in PIN_VARIABLES if k in os.environ}


def blas_info() -> dict:
    """NumPy's BLAS: library, version, the kernel architecture it runs, threads, and any pin."""
    import numpy as np  # (threadpoolctl sees the libraries loaded)
    from threadpoolctl import threadpool_info

    blas = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    # NumPy's own first, where another library (SciPy, torch) loaded a BLAS of its own too
    blas.sort(key=lambda p: np.__name__ not in str(p.get("filepath", "")))
    info = {"pins": blas_pins()}
    if blas:
        info.update(library=blas[0].get("internal_api"), version=blas[0].get("version"),
                    architecture=blas[0].get("architecture"), threads=blas[0].get("num_threads"))
    return info


#: the environment variable that leaves the C allocator as it is: MLP_MALLOC=system
MALLOC_VARIABLE = "MLP_MALLOC"
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # glibc's mallopt parameters
_allocator = "system"


def keep_freed_memory() -> str:
    """Ask glibc's malloc to keep freed memory for the next allocation, for the rest of this
    process; returns the allocator setting now in force (``allocator()``).

    By default glibc gives every array over a threshold (128 KiB, rising to 32 MiB) its own
    pages from the kernel and hands them back when it is freed, so a training step's arrays,
    made anew each step, fault in fresh zeroed pages every step: 870,000 page faults in a
    minute of 2048-2048 training at batch 16 in torch here, against 80,000 with freed memory
    kept, and the step ran 1.6-1.9x slower (NumPy: 1.1-1.3x; batch 4096: 1.3x in both). How
    fast a process ran also depended on what it had allocated before, which set the threshold.
    This is what a caching allocator does for a GPU, and what jemalloc or tcmalloc do on a
    CPU; the cost is that the process keeps its peak memory. Nothing is changed where the C
    library is not glibc, or where ``MLP_MALLOC=system``."""
    global _allocator
    if not freed_memory_wanted() or _allocator != "system":
        return _allocator
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return _allocator
    import ctypes

    libc = ctypes.CDLL(None)
    # no array gets pages of its own (mmap), and freed memory is never trimmed back
    if libc.mallopt(_M_MMAP_MAX, 0) and libc.mallopt(_M_TRIM_THRESHOLD, 2 ** 31 - 1):
        _allocator = "glibc, freed memory kept"
    return _allocator


def freed_memory_wanted() -> bool:
    """Whether :func:`keep_freed_memory` may change the allocator (not where
    ``MLP_MALLOC=system``)."""
    return os.environ.get(MALLOC_VARIABLE, "").lower() != "system"


def allocator() -> str:
    """The C allocator's setting in this process: ``system``, or what
    :func:`keep_freed_memory` set."""
    return _allocator


#: a calibration phase during which the hypervisor took more than this share of the CPU (steal
#: time) is measured again: in a sweep here, measurements with more ran 16% slower than their
#: cell's median
STEAL_LIMIT_PCT = 2.0


def cpu_times() -> list[int] | None:
    """The machine's CPU time in ticks since boot, from /proc/stat: user, nice, system, idle,
    iowait, irq, softirq, steal (None where the OS has none)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    return fields + [0] * (8 - len(fields))


def steal_percent(before: list[int] | None, after: list[int] | None) -> float | None:
    """The share of the CPU time between two :func:`cpu_times` readings that the hypervisor
    gave to other machines (None where unknown)."""
    if not before or not after or sum(after) <= sum(before):
        return None
    return 100 * (after[7] - before[7]) / (sum(after) - sum(before))


def with_steal(measure: Callable[[], T]) -> tuple[T, float | None]:
    """``measure()``'s result and the CPU steal time during it, in percent (None: unknown)."""
    before = cpu_times()
    result = measure()
    return result, steal_percent(before, cpu_times())


def least_stolen(measure: Callable[[], T], tries: int = 2) -> T:
    """``measure()``, measured again (at most ``tries`` times in all) while the hypervisor took
    more than STEAL_LIMIT_PCT of the CPU during it; the one with the least steal stands."""
    best, least = None, math.inf
    for _ in range(max(1, tries)):
        result, steal = with_steal(measure)
        if steal is None or steal <= STEAL_LIMIT_PCT:
            return result
        if steal < least:
            best, least = result, steal
    return best


def busy_cores(seconds: float = 0.5) -> float | None:
    """How many cores other processes kept busy over the next ``seconds``, from /proc/stat
    (None where the OS has none). Sampled now, unlike the load average, which still counts the
    command that ended a minute ago."""
    import time

    first, mine = cpu_times(), time.process_time()
    if first is None:
        return None
    time.sleep(seconds)
    last, mine = cpu_times(), time.process_time() - mine
    idle = (last[3] + last[4]) - (first[3] + first[4])
    total = sum(last[:7]) - sum(first[:7])
    if total <= 0:
        return None
    cores = os.cpu_count() or 1
    used = cores * (1 - idle / total) - mine / seconds  # (this process's own share left out)
    return max(used, 0.0)


def warnings_for_this_machine(native_blas: bool = False) -> list[str]:
    """Reasons the timings about to be taken here may not mean what they seem."""
    out = []
    busy = busy_cores()
    if busy is not None and busy > 0.5:  # another busy process keeps about one core busy
        out.append(f"the machine is busy (other processes kept {busy:.1f} of its "
                   f"{os.cpu_count()} cores busy just now): timings will be slow and noisy; "
                   "stop other work first")
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    if (coretype and not native_blas and "avx512f" in cpu_flags()
            and coretype.lower() not in AVX512_KERNELS):
        out.append(f"OPENBLAS_CORETYPE={coretype} pins an older OpenBLAS kernel than this CPU "
                   "supports (AVX-512); --native-blas unsets it in the measurements")
    return out
