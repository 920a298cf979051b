"""What a measurement's machine is: CPU and its vector extensions, BLAS and its kernel, load.

The numbers a benchmark publishes mean little without these: an OpenBLAS pinned to an older kernel
(``OPENBLAS_CORETYPE``) runs 1.5-1.8x slower on an AVX-512 CPU, and a 2-core machine under load
slows a BLAS that spins its threads several-fold.
"""

from __future__ import annotations

import os
import platform

PIN_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
#: OpenBLAS kernels that use AVX-512
AVX512_KERNELS = ("skylakex", "cooperlake", "sapphirerapids")


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


def busy_cores(seconds: float = 0.5) -> float | None:
    """How many cores other processes kept busy over the next ``seconds``, from /proc/stat
    (None where the OS has none). Sampled now, unlike the load average, which still counts the
    command that ended a minute ago."""
    import time

    def ticks() -> tuple[int, int] | None:
        try:
            with open("/proc/stat") as f:
                fields = [int(v) for v in f.readline().split()[1:8]]
        except (OSError, ValueError):
            return None
        return fields[3] + fields[4], sum(fields)  # (idle + iowait, all)

    first, mine = ticks(), time.process_time()
    if first is None:
        return None
    time.sleep(seconds)
    last, mine = ticks(), time.process_time() - mine
    idle, total = last[0] - first[0], last[1] - first[1]
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
