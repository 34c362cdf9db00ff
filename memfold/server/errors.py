"""One JSON error shape for every failure: `{"detail": str, "code": str, "errors": list | null}`.

`detail` is a sentence a person can act on; `code` is stable for programs; `errors` lists
field problems of a malformed request.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from memfold.errors import MemfoldError

log = logging.getLogger("memfold.server")

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden"}


def error_body(
    status: int, detail: str, code: str, errors: list[dict[str, Any]] | None = None
) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": detail, "code": code, "errors": errors})


def _field_errors(errors: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "loc": [str(p) for p in e.get("loc", ())],
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in errors
    ]


def _summary(errors: list[dict[str, Any]]) -> str:
    parts = [f"{'.'.join(e['loc']) or 'body'}: {e['msg']}" for e in errors[:5]]
    more = f" (+{len(errors) - 5} more)" if len(errors) > 5 else ""
    return "invalid request: " + "; ".join(parts) + more


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(MemfoldError)
    async def _memfold(_: Request, exc: MemfoldError) -> JSONResponse:
        details = exc.details if isinstance(exc.details, list) else None
        return error_body(exc.status_code, exc.message, exc.code, details)

    @app.exception_handler(RequestValidationError)
    async def _request(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _field_errors(list(exc.errors()))
        return error_body(422, _summary(errors), "validation_error", errors)

    @app.exception_handler(ValidationError)
    async def _validation(_: Request, exc: ValidationError) -> JSONResponse:
        errors = _field_errors(list(exc.errors()))
        return error_body(422, _summary(errors), "validation_error", errors)

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        return error_body(409, "the request conflicts with existing data", "conflict")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else "request failed"
        return error_body(exc.status_code, detail, _HTTP_CODES.get(exc.status_code, "http_error"))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_body(500, "internal server error", "internal_error")
