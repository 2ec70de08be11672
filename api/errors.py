"""One error shape for every answer that is not a success:

    {"error": {"code": "not_found", "message": "No such project", "field": null, "line": null}}

`message` is the text the pages show for the same refusal (the services' and forms' own words);
`field` names the input at fault and `line` the line of an uploaded file, when there is one.
"""

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import DataError
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, Throttled, ValidationError

from labeling.formats.records import RowError
from labeling.services.importing import ImportFailed
from labeling.services.judgment import JudgmentRefused

CODES = {
    400: "invalid",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "invalid",
    429: "rate_limited",
}


class ErrorBody(Schema):
    code: str
    message: str
    field: str | None = None
    line: int | None = None
    # Every problem of an import that failed validation (the first is also above).
    errors: list["ErrorBody"] | None = None


class ErrorOut(Schema):
    error: ErrorBody


class ApiError(Exception):
    """Raised by an endpoint: answered in the error shape with this status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str = "",
        field: str | None = None,
        line: int | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {
            "code": code or CODES.get(status, "error"),
            "message": message,
            "field": field or None,
            "line": line or None,
        }
        if errors is not None:
            self.body["errors"] = errors


def form_error(form: Form) -> ApiError:
    """A form's errors as the page words them, naming the first field at fault."""
    field = next((name for name in form.errors if name != "__all__"), None)
    return ApiError(400, form.error_text(), field=field)  # type: ignore[attr-defined]


def row_error(error: RowError) -> dict[str, Any]:
    return {
        "code": "invalid",
        "message": str(error),
        "field": error.field or None,
        "line": error.line or None,
    }


def import_error(failed: ImportFailed) -> ApiError:
    first = failed.errors[0]
    return ApiError(
        400,
        str(first),
        field=first.field,
        line=first.line,
        errors=[row_error(error) for error in failed.errors],
    )


def error_response(api: NinjaAPI, request: HttpRequest, status: int, body: dict) -> HttpResponse:
    return api.create_response(request, {"error": body}, status=status)


def install(api: NinjaAPI) -> None:
    """Answer every refusal in the one shape."""

    def simple(status: int, message: str, **extra: Any) -> dict[str, Any]:
        return {
            "code": CODES.get(status, "error"),
            "message": message,
            "field": None,
            "line": None,
            **extra,
        }

    @api.exception_handler(ApiError)
    def _api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
        return error_response(api, request, exc.status, exc.body)

    @api.exception_handler(PermissionDenied)
    def _forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
        message = str(exc) or "You may not do this."
        return error_response(api, request, 403, simple(403, message))

    @api.exception_handler(DataError)
    def _unstorable(request: HttpRequest, exc: DataError) -> HttpResponse:
        # A value the database refuses (a NUL character, a number out of range), sent where no
        # rule of the pages looks at it (a filter, a name): the client's input, not a fault.
        message = f"A value cannot be stored or searched for: {str(exc).splitlines()[0]}"
        return error_response(api, request, 400, simple(400, message))

    @api.exception_handler(Http404)
    def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        return error_response(api, request, 404, simple(404, str(exc) or "Not found"))

    @api.exception_handler(AuthenticationError)
    def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        message = "Send a valid API token as 'Authorization: Bearer <token>' or log in."
        return error_response(api, request, 401, simple(401, message))

    @api.exception_handler(Throttled)
    def _throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
        return error_response(api, request, 429, simple(429, "Too many requests; slow down."))

    @api.exception_handler(HttpError)
    def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        return error_response(api, request, exc.status_code, simple(exc.status_code, str(exc)))

    @api.exception_handler(ValidationError)
    def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        first = exc.errors[0] if exc.errors else {}
        # ("body", "payload", "side") -> "side": the field as the client named it.
        location = [
            str(part)
            for part in first.get("loc", ())
            if part not in ("body", "query", "path", "header", "form", "file", "payload", "filters")
        ]
        field = ".".join(location) or None
        message = first.get("msg", "Invalid input")
        text = f"{field}: {message}" if field else message
        return error_response(api, request, 422, {**simple(422, text), "field": field})

    @api.exception_handler(JudgmentRefused)
    def _refused(request: HttpRequest, exc: JudgmentRefused) -> HttpResponse:
        return error_response(api, request, 409, simple(409, str(exc), code="refused"))

    @api.exception_handler(ImportFailed)
    def _import_failed(request: HttpRequest, exc: ImportFailed) -> HttpResponse:
        return error_response(api, request, 400, import_error(exc).body)
