"""The API's one error type: a 4xx answer naming the parameter that was wrong."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ApiError(Exception):
    """Bad input: HTTP `status`, the offending `param` and a message; rendered as JSON, never a traceback."""

    status: int
    param: str
    message: str

    def body(self) -> dict[str, str]:
        """The JSON answer: the seed's `error`/`msg` keys plus the parameter name."""
        return {"status": "error", "error": self.message, "msg": self.message, "param": self.param}
