"""The API's one error type and its one shape: `{"status": "error", "error", "msg", "param"}` for every error
answer (a handler's bad input, an unknown path or method, an upload too large, a database that cannot be reached,
a fault of ours, a refused token or Origin)."""

from __future__ import annotations

from dataclasses import dataclass


def error_body(param: str, message: str) -> dict[str, str]:
    """The JSON of an error answer: the seed's `error`/`msg` keys (the same message) plus the parameter at fault
    ("" when none is)."""
    return {"status": "error", "error": message, "msg": message, "param": param}


@dataclass
class ApiError(Exception):
    """An error answer: HTTP `status`, the offending `param` and a message; rendered as JSON, never a traceback.
    Handlers raise it for bad input (4xx); api.routes.failure makes one of every other failure (500, 503)."""

    status: int
    param: str
    message: str

    def body(self) -> dict[str, str]:
        """The JSON answer (error_body)."""
        return error_body(self.param, self.message)
