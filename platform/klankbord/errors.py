"""The domain error tree; `klankbord.web` maps it to responses in one place.

Services raise these and never import the web framework. A missing row and a row of another
organisation raise the same `NotFound`, so an error never tells whether something exists.
"""

from __future__ import annotations


class ConfigurationError(Exception):
    """The environment does not describe a runnable Klankbord."""


class DomainError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str = "", *, code: str | None = None) -> None:
        if code is not None:
            self.code = code
        self.message = message or self.code
        super().__init__(self.message)


class NotFound(DomainError):
    code = "not_found"
    status = 404


class NotAuthenticated(DomainError):
    code = "not_authenticated"
    status = 401


class PermissionDenied(DomainError):
    """The principal is known but its role does not allow the page (never for foreign data:
    that is `NotFound`)."""

    code = "permission_denied"
    status = 403


class Invalid(DomainError):
    code = "invalid"
    status = 422

    def __init__(
        self, message: str = "", *, code: str | None = None, fields: dict[str, str] | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.fields = fields or {}


class Conflict(DomainError):
    code = "conflict"
    status = 409
