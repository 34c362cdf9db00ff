"""Memory tiers: core blocks (in context), archival passages and recall messages (searched)."""
