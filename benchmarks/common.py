"""Timing helpers shared by the benchmarks: medians of repeated runs, one printed summary."""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable


def median_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median wall time of `repeats` calls, and the last call's result."""
    times, result = [], None
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def report(title: str, reference: str, reference_s: float, ours: str, ours_s: float, extra: str = "") -> None:
    print(f"\n{title}")
    print(f"  {reference:<28} {reference_s:10.3f} s")
    print(f"  {ours:<28} {ours_s:10.3f} s")
    print(f"  ratio (reference / segshift) {reference_s / ours_s:10.1f}x")
    if extra:
        print(f"  {extra}")
