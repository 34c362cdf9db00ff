"""Pydantic models of the API contract (Letta v1, as `letta-client` 1.12.x sends and parses it)."""
