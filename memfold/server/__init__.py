"""The HTTP API (FastAPI): one router module per resource."""

from memfold.server.app import create_app

__all__ = ["create_app"]
