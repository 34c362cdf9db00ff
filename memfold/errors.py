"""The error hierarchy. Every error memfold raises on purpose is a `MemfoldError`.

MemfoldError
├── UserError                 the caller's mistake -> 4xx
│   ├── BadRequestError       400  malformed or contradictory input
│   ├── InvalidValueError     422  a value breaks a rule (e.g. longer than a block's limit)
│   │   └── ContextWindowTooSmallError  the fixed part of a request (system, memory, tools) cannot fit
│   ├── UnauthorizedError     401  no valid API key, on a server that requires one
│   ├── NotFoundError         404  unknown id or name
│   └── ConflictError         409  state forbids it now (duplicate, pending approval, ...)
├── ConfigurationError        a setting or credential is missing; names the variable and the fix
├── ProviderError             an LLM provider failed (status and body kept); translated at the adapter
│   └── ContextWindowExceededError   the provider rejected the prompt as too long
└── ToolError                 a tool failed; the message goes back to the model, never to a 5xx
    └── ToolRetry             a tool asks the model to try again with better arguments
"""

from __future__ import annotations

from typing import Any


class MemfoldError(Exception):
    """Base of every error memfold raises on purpose."""

    status_code: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class UserError(MemfoldError):
    status_code = 400
    code = "bad_request"


class BadRequestError(UserError):
    status_code = 400
    code = "bad_request"


class InvalidValueError(UserError):
    status_code = 422
    code = "invalid_value"


class ContextWindowTooSmallError(InvalidValueError):
    """The system prompt, memory blocks and tool schemas alone leave no room in the agent's window."""

    code = "context_window_too_small"


class UnauthorizedError(UserError):
    status_code = 401
    code = "unauthorized"


class NotFoundError(UserError):
    status_code = 404
    code = "not_found"

    @classmethod
    def for_id(cls, kind: str, ident: str) -> NotFoundError:
        return cls(f"{kind} {ident!r} not found")


class ConflictError(UserError):
    status_code = 409
    code = "conflict"


class ConfigurationError(MemfoldError):
    status_code = 400
    code = "configuration_error"


class ProviderError(MemfoldError):
    """An LLM provider failed. `status` and `body` are what the provider answered, when it answered."""

    status_code = 502
    code = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status: int | None = None,
        body: Any = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message, details={"provider": provider, "status": status, "body": body})
        self.provider = provider
        self.status = status
        self.body = body
        self.retryable = retryable


class ContextWindowExceededError(ProviderError):
    code = "context_window_exceeded"


class ToolError(MemfoldError):
    """A tool failed. The message is shown to the model as the tool's result."""

    status_code = 400
    code = "tool_error"


class ToolRetry(ToolError):
    """A tool asks the model to call it again with corrected arguments."""

    code = "tool_retry"
