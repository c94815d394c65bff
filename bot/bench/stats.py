"""Small statistics shared by the benchmarks."""

from __future__ import annotations

import numpy as np


def percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
