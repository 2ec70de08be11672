"""The JSON API (django-ninja): /api/v1/, its OpenAPI schema at /api/v1/openapi.json and its
docs at /api/v1/docs (Swagger UI from django-ninja's own static files, no CDN)."""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI

from api import errors
from api.auth import SessionAuthWithCsrf, TokenAuth
from api.routers import catalog, data, labelling, projects, training, webhooks
from api.throttling import TokenRateThrottle

api = NinjaAPI(
    title="prefapp API",
    version="1",
    description=(
        "Everything a manager does in the browser, scripted, and labelling for custom front "
        "ends. Authenticate with a personal token (`Authorization: Bearer pfa_…`, made on "
        "/account/tokens/) or, from the app's own pages, the session with its CSRF token. "
        'Errors: `{"error": {"code", "message", "field", "line"}}`. Lists are '
        "paginated by cursor: follow `next`."
    ),
    urls_namespace="api-v1",
    auth=[TokenAuth(), SessionAuthWithCsrf()],
    throttle=[TokenRateThrottle()],
)
errors.install(api)
api.add_router("", projects.router)
api.add_router("", labelling.router)
api.add_router("", catalog.router)
api.add_router("", data.router)
api.add_router("", training.router)
api.add_router("", webhooks.router)


@csrf_exempt  # nothing to protect: it answers 404 to any method
def not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """Any other address under /api/: the error shape, not the HTML 404 page."""
    body = {"code": "not_found", "message": "No such endpoint", "field": None, "line": None}
    return JsonResponse({"error": body}, status=404)
