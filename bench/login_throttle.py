"""What wrong passwords cost the server: 40 in a row for one username, from one address.

    .venv/bin/python bench/login_throttle.py [--attempts 40]

Runs in a throw-away SQLite database (a temporary PREFAPP_VAR_DIR; DATABASE_URL and REDIS_URL
are ignored) with the production password hasher, and posts the login form through Django's
test client. Prints each answer's status and the time the server spent on them: without
throttling every attempt hashes a password; with it, attempts after the limit are refused
before hashing.
"""

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--attempts", type=int, default=40)
    args = parser.parse_args()
    if os.environ.get("_LOGIN_BENCH_CHILD"):
        return _measure(args.attempts)
    with tempfile.TemporaryDirectory(prefix="prefapp-bench-login-") as var:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env.update(PREFAPP_VAR_DIR=var, DEBUG="true", LOG_LEVEL="ERROR", _LOGIN_BENCH_CHILD="1")
        env["DJANGO_SETTINGS_MODULE"] = "prefapp.settings"
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
        return subprocess.run(
            [sys.executable, __file__, *sys.argv[1:]], cwd=ROOT, env=env
        ).returncode


def _measure(attempts: int) -> int:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    logging.getLogger("django.request").setLevel(logging.ERROR)  # one line per refusal otherwise
    from django.contrib.auth import get_user_model
    from django.test import Client

    get_user_model().objects.create_user("victim", password="the-right-password-1")
    client = Client(REMOTE_ADDR="203.0.113.7")
    statuses: list[int] = []
    started = time.perf_counter()
    for _ in range(attempts):
        response = client.post("/login/", {"username": "victim", "password": "wrong"})
        statuses.append(response.status_code)
    seconds = time.perf_counter() - started
    counts = {status: statuses.count(status) for status in sorted(set(statuses))}
    print(f"{attempts} wrong passwords: {seconds:.2f} s, answers {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
