"""bench/rss.py: the CPU of a process tree counts the children that have exited too."""

from __future__ import annotations

import subprocess
import sys

from bench.rss import cpu_seconds, tree_cpu_seconds, tree_pids

# The child runs a grandchild that burns CPU and exits (reaped by subprocess.run), says so,
# and stays until its stdin closes.
CHILD = """
import subprocess, sys
subprocess.run([sys.executable, "-c", "sum(range(20_000_000))"], check=True)
print("done", flush=True)
sys.stdin.read()
"""


def test_the_cpu_of_a_reaped_child_stays_in_the_tree() -> None:
    with subprocess.Popen(
        [sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as child:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "done"  # the grandchild has exited
        assert tree_pids(child.pid) == {child.pid}
        own, tree = cpu_seconds(child.pid), tree_cpu_seconds(child.pid)
        child.stdin.close()
    assert tree - own >= 0.1  # the grandchild's sum, in the child's cutime
