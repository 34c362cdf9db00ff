"""End-to-end tests: `memfold serve` as a subprocess, driven through `letta-client`."""
