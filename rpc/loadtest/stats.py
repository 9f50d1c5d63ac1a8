"""What a load test measured: latencies and statuses in, a summary out.

Modelled on ghz's report (https://ghz.sh/docs/output): count, total time,
requests per second, fastest / slowest / average, a latency distribution at
fixed percentiles, and how many calls ended with each status code. Pure
functions over a list of ``Result``s; no I/O, so a notebook can show them.

Percentiles use the nearest-rank method: the p-th percentile of n sorted
latencies is the ceil(p/100 * n)-th of them, so it is always one that was
measured.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence

__all__ = ["Result", "Summary", "summarize", "percentile", "render_text", "render_json",
           "PERCENTILES"]

PERCENTILES = (10, 25, 50, 75, 90, 95, 99)     # ghz's latency distribution rows
MILLISECONDS = 1e3


@dataclass(frozen=True)
class Result:
    """One call: how long it took (seconds), the status code's name, and details if it failed."""

    latency: float
    code: str
    error: str = ""


@dataclass(frozen=True)
class Summary:
    count: int
    total: float                       # seconds, the whole run
    fastest: float
    slowest: float
    average: float
    requests_per_second: float
    latency_distribution: dict[int, float] = field(default_factory=dict)   # percent -> seconds
    status_codes: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Milliseconds throughout, for --format json."""
        return {
            "count": self.count,
            "total_ms": self.total * MILLISECONDS,
            "average_ms": self.average * MILLISECONDS,
            "fastest_ms": self.fastest * MILLISECONDS,
            "slowest_ms": self.slowest * MILLISECONDS,
            "rps": self.requests_per_second,
            "latency_distribution": [
                {"percentage": p, "latency_ms": latency * MILLISECONDS}
                for p, latency in self.latency_distribution.items()],
            "status_code_distribution": dict(self.status_codes),
            "error_distribution": dict(self.errors),
        }


def _by_count(counts: Counter) -> dict[str, int]:
    """Most frequent first; equal counts by name, so a report reads the same every run."""
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def percentile(sorted_latencies: Sequence[float], percent: float) -> float:
    """The nearest-rank percentile of already sorted values (0 for none)."""
    if not sorted_latencies:
        return 0.0
    rank = max(1, math.ceil(percent / 100 * len(sorted_latencies)))
    return sorted_latencies[min(rank, len(sorted_latencies)) - 1]


def summarize(results: Sequence[Result], total: float) -> Summary:
    """The summary of a run of ``total`` seconds that produced ``results``."""
    latencies = sorted(result.latency for result in results)
    count = len(latencies)
    return Summary(
        count=count,
        total=total,
        fastest=latencies[0] if latencies else 0.0,
        slowest=latencies[-1] if latencies else 0.0,
        average=sum(latencies) / count if count else 0.0,
        requests_per_second=count / total if total > 0 else 0.0,
        latency_distribution={p: percentile(latencies, p) for p in PERCENTILES},
        status_codes=_by_count(Counter(result.code for result in results)),
        errors=_by_count(Counter(f"{r.code}: {r.error}" for r in results if r.code != "OK")),
    )


def render_text(summary: Summary) -> str:
    """The summary as ghz prints it, more or less."""
    ms = MILLISECONDS
    lines = [
        "Summary:",
        f"  Count:\t{summary.count}",
        f"  Total:\t{summary.total * ms:.2f} ms",
        f"  Slowest:\t{summary.slowest * ms:.2f} ms",
        f"  Fastest:\t{summary.fastest * ms:.2f} ms",
        f"  Average:\t{summary.average * ms:.2f} ms",
        f"  Requests/sec:\t{summary.requests_per_second:.2f}",
        "",
        "Latency distribution:",
        *(f"  {p} % in {latency * ms:.2f} ms"
          for p, latency in summary.latency_distribution.items()),
        "",
        "Status code distribution:",
        *(f"  [{code}]\t{n} responses" for code, n in summary.status_codes.items()),
    ]
    if summary.errors:
        lines += ["", "Error distribution:",
                  *(f"  [{n}]\t{error}" for error, n in summary.errors.items())]
    return "\n".join(lines)


def render_json(summary: Summary) -> str:
    return json.dumps(summary.as_dict(), indent=2)
