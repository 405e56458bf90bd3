"""Errors as RFC 9457 problem details (``application/problem+json``), never a stack trace."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

__all__ = ["Problem", "problem_response", "PROBLEM_TYPES"]

#: ``type`` of each problem this service answers with (documented in docs/service.md).
PROBLEM_TYPES = {
    400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found", 405: "method-not-allowed",
    413: "too-large", 415: "unsupported-media-type", 422: "unprocessable", 429: "rate-limited",
    500: "internal-error", 503: "unavailable",
}
_TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
           413: "Content too large", 415: "Unsupported media type", 422: "Unprocessable content",
           429: "Too many requests", 500: "Internal server error", 503: "Service unavailable"}


class Problem(StarletteHTTPException):
    """An HTTP error with a problem-details body.  A subclass of Starlette's HTTPException, so it passes
    through FastAPI's request parsing untouched (raised while a body is read, it keeps its status)."""

    def __init__(self, status: int, detail: str, *, slug: str | None = None, title: str | None = None,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(status_code=status, detail=detail, headers=headers)
        self.slug = slug or PROBLEM_TYPES.get(status, "error")
        self.title = title or _TITLES.get(status, "Error")
        self.extra = extra


def problem_response(status: int, detail: str, *, slug: str | None = None, title: str | None = None,
                     headers: dict[str, str] | None = None, instance: str | None = None,
                     **extra: Any) -> JSONResponse:
    body = {"type": f"urn:fakescope:problem:{slug or PROBLEM_TYPES.get(status, 'error')}",
            "title": title or _TITLES.get(status, "Error"), "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type="application/problem+json")
