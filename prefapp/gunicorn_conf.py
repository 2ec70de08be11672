"""gunicorn's configuration in production (docker-compose.yml: `-c prefapp/gunicorn_conf.py`).

gunicorn writes `Server: gunicorn` into every response and has no setting to leave it out
(its maintainers decline one; setting `gunicorn.SERVER_SOFTWARE`, the old advice, no longer
changes the header, and blanking `SERVER` still sends an empty `Server:`). The header tells a
scanner which server to try exploits for and tells a client nothing it needs, so the response
line builder is wrapped to drop it. `tests/test_settings_deploy.py` starts gunicorn with this
file and checks the header is gone: if a gunicorn upgrade renames what is wrapped here, that
test fails (and this file raises at start-up rather than serve with the header).
"""

from gunicorn.http import wsgi

_default_headers = wsgi.Response.default_headers


def _default_headers_without_server(self: wsgi.Response) -> list[str]:
    return [line for line in _default_headers(self) if not line.lower().startswith("server:")]


wsgi.Response.default_headers = _default_headers_without_server  # type: ignore[method-assign]
