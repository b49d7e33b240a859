"""The machine a benchmark ran on: facts, whether other work shared it, the page cache.

Whether the machine was shared is measured, not assumed: the parent process reads
the system's busy CPU time (``/proc/stat``) and the load average right before and
right after each benchmark's process, and subtracts the CPU time the benchmark's
own processes used (``RUSAGE_CHILDREN``). What is left is other work.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

# Other processes using at least this many cores on average (over a benchmark's run)
# make the figures "measured on a shared machine".
SHARED_CORES = 0.2
DROP_CACHES = Path("/proc/sys/vm/drop_caches")


def busy_cpu_seconds(stat_text: str, ticks_per_second: float) -> float:
    """Busy CPU seconds of all cores since boot from ``/proc/stat``'s first line.

    Busy = user + nice + system + irq + softirq (guest time is already in user);
    idle, iowait and steal (time the hypervisor gave to other machines) are not.
    """
    fields = stat_text.splitlines()[0].split()
    if fields[0] != "cpu":
        raise ValueError(f"not a /proc/stat 'cpu' line: {fields[:2]}")
    user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in fields[1:8])
    return (user + nice + system + irq + softirq) / ticks_per_second


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Snapshot:
    """System and own-children CPU time and the load average at one moment."""

    wall: float
    busy_s: float
    own_s: float
    load_avg: list[float]

    @classmethod
    def now(cls) -> Snapshot:
        return cls(
            wall=time.monotonic(),
            busy_s=busy_cpu_seconds(Path("/proc/stat").read_text(), os.sysconf("SC_CLK_TCK")),
            own_s=_children_cpu_seconds(),
            load_avg=[round(x, 2) for x in os.getloadavg()],
        )


def other_work_cores(before: Snapshot, after: Snapshot) -> float:
    """Average cores used by processes other than the benchmark's, between two snapshots.

    Only correct when the benchmark's processes have all exited (and were waited
    for) by ``after``: their CPU time is counted in ``RUSAGE_CHILDREN`` only then.
    """
    wall = after.wall - before.wall
    if wall <= 0:
        return 0.0
    other = (after.busy_s - before.busy_s) - (after.own_s - before.own_s)
    return max(0.0, other / wall)


def load_record(before: Snapshot, after: Snapshot) -> dict:
    """What a result records about the load around one benchmark."""
    return {
        "load_avg_before": before.load_avg,
        "load_avg_after": after.load_avg,
        "other_work_cores": round(other_work_cores(before, after), 2),
        "shared_threshold_cores": SHARED_CORES,
    }


def sharing_sentence(loads: dict[str, dict]) -> str:
    """One sentence for the results header: was the machine shared, and during what.

    ``loads``: benchmark name -> its ``load_record`` (or {} for older results that
    recorded none).
    """
    shared = [n for n, r in loads.items() if r.get("other_work_cores", 0) >= SHARED_CORES]
    unknown = [n for n, r in loads.items() if "other_work_cores" not in r]
    quiet = [n for n in loads if n not in shared and n not in unknown]
    parts = []
    if shared:
        parts.append(
            "the machine was shared with other work during "
            + ", ".join(f"{n} ({loads[n]['other_work_cores']:.1f} cores)" for n in shared)
        )
    if quiet:
        parts.append(
            f"other work used less than {SHARED_CORES} cores on average during " + ", ".join(quiet)
        )
    if unknown:
        parts.append(
            "for " + ", ".join(unknown) + " other work was not measured (older runs: "
            "load average only, which includes the benchmark itself)"
        )
    return "; ".join(parts) + "." if parts else ""


def drop_page_cache() -> str | None:
    """Write back and drop the page cache (needs root); None when done, else why not."""
    os.sync()
    try:
        DROP_CACHES.write_text("3\n")
    except OSError as exc:
        return f"{DROP_CACHES}: {exc.strerror or exc}"
    return None


def machine_info(ignore=()) -> dict:
    """The eval reports' machine facts plus load, library versions and the commit.

    ``ignore``: the run's own output paths, which do not make the commit "+local changes".
    """
    from evals.provenance import git_commit
    from evals.runner import machine_info as eval_machine_info

    versions = {}
    for mod in ("faiss", "llama_cpp", "torch", "sentence_transformers", "bm25s", "numpy"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - informational only
            versions[mod] = None
    return {
        **eval_machine_info(),
        "versions": versions,
        "commit": git_commit(ignore=ignore) or "",
    }
