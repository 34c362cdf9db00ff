"""memfold: a server for stateful LLM agents that manage their own memory."""

__version__ = "0.1.0"

__all__ = ["__version__"]
