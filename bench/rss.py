"""Resident memory of a process and its descendants, sampled from /proc in a thread."""

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


def tree_rss_bytes(pid: int) -> int:
    """Sum of VmRSS over `pid` and its descendants; 0 when the process is gone."""
    total, todo, seen = 0, [pid], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            status = (PROC / str(current) / "status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
        todo += _children(current)
    return total


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` (its threads included; not its children)."""
    fields = (PROC / str(pid) / "stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
