"""memfold's benchmarks: `python -m bench` (or `make bench`) runs them all; results go to
bench/results/ (not committed) and are written up in docs/benchmarks.md."""
