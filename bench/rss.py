"""Resident memory and CPU time of a process and its descendants, from /proc; the memory
sampled in a thread."""

from __future__ import annotations

import os
import threading
from pathlib import Path

PROC = Path("/proc")


def _children(pid: int) -> list[int]:
    """Direct children of `pid`, from /proc/<pid>/task/*/children (or a /proc scan)."""
    tasks = PROC / str(pid) / "task"
    try:
        found: list[int] = []
        for task in tasks.iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
        return found
    except FileNotFoundError:  # kernel without CONFIG_PROC_CHILDREN, or pid gone
        pass
    except OSError:
        return []
    children = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                children.append(int(entry.name))
    return children


def tree_pids(pid: int) -> set[int]:
    """`pid` and its descendants that are alive now."""
    todo, seen = [pid], set()
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo += _children(current)
    return seen


def tree_rss_bytes(pid: int) -> int:
    """Sum of VmRSS over `pid` and its descendants; 0 when the process is gone."""
    total = 0
    for member in tree_pids(pid):
        try:
            status = (PROC / str(member) / "status").read_text()
        except OSError:  # exited between the listing and the read
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


def _stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name: fields[0] is the state (field 3)."""
    return (PROC / str(pid) / "stat").read_text().rpartition(")")[2].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` (its threads included; not its children)."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of `pid` and its descendants: the live ones' own, and that of the
    exited ones their parent in the tree has waited for (cutime + cstime), so that a render
    worker process replaced during a run still counts."""
    ticks = 0
    for member in tree_pids(pid):
        try:
            fields = _stat_fields(member)
        except OSError:  # exited between the listing and the read
            continue
        ticks += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


class RssSampler:
    """Samples the tree's RSS every `interval` seconds; `peak` is the largest since `reset`."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid = pid
        self.interval = interval
        self.latest = tree_rss_bytes(pid)
        self.peak = self.latest
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def reset(self) -> int:
        """Start a new peak from the current value; returns that value."""
        now = tree_rss_bytes(self.pid)
        with self._lock:
            self.latest = self.peak = now
        return now

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            now = tree_rss_bytes(self.pid)
            with self._lock:
                self.latest = now
                self.peak = max(self.peak, now)
