"""Production settings: `check --deploy` is clean, a missing SECRET_KEY stops start-up, and
gunicorn as production starts it names no server.

Each case runs manage.py in a subprocess, because settings are read once per process.
"""

import os
import secrets
import socket
import subprocess
import sys
import time
from http.client import HTTPConnection
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _manage(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS")
    }
    clean.update(PREFAPP_VAR_DIR=str(tmp_path / "var"), **env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_it_passes_check_deploy_with_production_settings(tmp_path):
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        tmp_path=tmp_path,
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="prefapp.example.org",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_it_refuses_to_start_without_a_secret_key_when_debug_is_off(tmp_path):
    result = _manage("check", tmp_path=tmp_path, DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY must be set in the environment when DEBUG is off" in result.stderr
    assert not (tmp_path / "var" / "secret_key").exists()


def test_it_generates_and_keeps_a_development_key(tmp_path):
    show_key = (
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; print(settings.SECRET_KEY)",
    )
    first = _manage(*show_key, tmp_path=tmp_path, DEBUG="true")
    second = _manage(*show_key, tmp_path=tmp_path, DEBUG="true")
    assert first.returncode == 0, first.stderr
    key_file = tmp_path / "var" / "secret_key"
    assert first.stdout.strip() == second.stdout.strip() == key_file.read_text().strip()
    assert len(first.stdout.strip()) >= 50
    assert key_file.stat().st_mode & 0o077 == 0  # readable by its owner only


def test_gunicorn_with_the_production_config_sends_no_server_header(tmp_path):
    """docker-compose.yml starts gunicorn with prefapp/gunicorn_conf.py."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DEBUG")}
    env.update(PREFAPP_VAR_DIR=str(tmp_path / "var"), DEBUG="true", ALLOWED_HOSTS="127.0.0.1")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "prefapp.wsgi:application"]
        + ["--config", "prefapp/gunicorn_conf.py", "--bind", f"127.0.0.1:{port}"]
        + ["--workers", "1", "--log-level", "warning"],
        cwd=ROOT,
        env=env,
    )
    try:
        headers = None
        for _ in range(300):
            try:
                connection = HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/login/")
                response = connection.getresponse()
                status, headers = response.status, response.headers
                connection.close()
                break
            except OSError:
                time.sleep(0.1)
        assert headers is not None, "gunicorn did not answer"
        assert status == 200
        assert "Server" not in headers
        assert "script-src 'self'" in headers["Content-Security-Policy"]
    finally:
        server.terminate()
        server.wait(timeout=30)
