"""The simulated annotators of bench/labeling_load.py: each loops "next pair -> submit" over HTTP,
through the pages (split or htmx flow) or the JSON API, and records what the server answered."""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from dataclasses import dataclass, field

from _http import Browser

_ASSIGNMENT = re.compile(rb'name="assignment_id" value="(\d+)"')
_LOGIN_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
HTMX = {"HX-Request": "true"}


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: dict[str, dict[int, int]] = field(default_factory=dict)
    successes: list[tuple[int, int, str, float]] = field(default_factory=list)
    refusals: list[tuple[int, int, str, float]] = field(default_factory=list)
    no_work: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, kind: str, seconds: float, status: int) -> None:
        self.latencies.setdefault(kind, []).append(seconds)
        by_status = self.statuses.setdefault(kind, {})
        by_status[status] = by_status.get(status, 0) + 1

    def outcome(
        self, entry: tuple[int, int, str, float], status: int, ok: int, body: bytes
    ) -> None:
        """A submission the server stored (`ok`), refused as taken (409) or failed on."""
        if status == ok:
            self.successes.append(entry)
        elif status == 409:
            self.refusals.append(entry)
        else:
            self.errors.append(f"submit answered {status}: {body[:300]!r}")


async def log_in(browser: Browser, username: str, password: str) -> None:
    page = await browser.get("/login/")
    token = _LOGIN_CSRF.search(page.text)
    if page.status != 200 or token is None:
        raise SystemExit(f"login page answered {page.status}")
    answer = await browser.post(
        "/login/",
        {"username": username, "password": password, "csrfmiddlewaretoken": token.group(1)},
    )
    if answer.status != 302 or "sessionid" not in browser.cookies:
        raise SystemExit(f"login of {username} answered {answer.status}")


async def annotate(
    browser: Browser,
    *,
    slug: str,
    user_id: int,
    flow: str,
    start: float,
    deadline: float,
    stats: Stats,
    rng: random.Random,
) -> None:
    label, submit = f"/p/{slug}/label/", f"/p/{slug}/label/submit/"
    await asyncio.sleep(max(0.0, start - time.perf_counter()))
    body = b""
    while time.perf_counter() < deadline:
        found = _ASSIGNMENT.search(body) if flow == "htmx" else None
        if found is None:
            t0 = time.perf_counter()
            page = await browser.get(label, HTMX)
            stats.add("next", time.perf_counter() - t0, page.status)
            found = _ASSIGNMENT.search(page.body)
            if found is None:
                stats.no_work += 1
                await asyncio.sleep(0.1)
                body = b""
                continue
        assignment_id = int(found.group(1))
        side = rng.choice(("left", "right", "left", "right", "tie", "both_bad"))
        headers = {"X-CSRFToken": browser.cookies["csrftoken"]}
        if flow == "htmx":
            headers.update(HTMX)
        t0 = time.perf_counter()
        answer = await browser.post(submit, {"assignment_id": assignment_id, "side": side}, headers)
        elapsed = time.perf_counter() - t0
        stats.add("submit+next" if flow == "htmx" else "submit", elapsed, answer.status)
        ok = 200 if flow == "htmx" else 302
        stats.outcome((assignment_id, user_id, side, t0), answer.status, ok, answer.body)
        body = answer.body


async def annotate_api(
    browser: Browser,
    *,
    slug: str,
    user_id: int,
    token: str,
    start: float,
    deadline: float,
    stats: Stats,
    rng: random.Random,
) -> None:
    """The JSON API's flow: lease, then submit with an Idempotency-Key (api/routers)."""
    base = f"/api/v1/projects/{slug}/labelling"
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    await asyncio.sleep(max(0.0, start - time.perf_counter()))
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        page = await browser.request("POST", f"{base}/next", auth)
        stats.add("next", time.perf_counter() - t0, page.status)
        lease = json.loads(page.body)["lease"] if page.status == 200 else None
        if lease is None:
            stats.no_work += 1
            await asyncio.sleep(0.1)
            continue
        assignment_id = lease["assignment_id"]
        side = rng.choice(("left", "right", "left", "right", "tie", "both_bad"))
        body = json.dumps({"assignment_id": assignment_id, "side": side}).encode()
        headers = {**auth, "Idempotency-Key": f"{user_id}-{assignment_id}"}
        t0 = time.perf_counter()
        answer = await browser.request("POST", f"{base}/submit", headers, body)
        stats.add("submit", time.perf_counter() - t0, answer.status)
        stats.outcome((assignment_id, user_id, side, t0), answer.status, 200, answer.body)
