"""Load benchmarks of the imgfleet service; see bench/README.md."""
