"""Requests per token are limited (django-ratelimit over the cache): 429 with Retry-After."""

import pytest

from tests.api.conftest import bearer


@pytest.mark.redis
def test_it_limits_each_token_and_says_when_to_retry(project, manager, settings):
    settings.PREFAPP_API_RATE = "2/m"
    first, second = bearer(manager), bearer(manager)
    url = f"/api/v1/projects/{project.slug}"
    assert [first.get(url).status_code for _ in range(2)] == [200, 200]
    refused = first.get(url)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert second.get(url).status_code == 200  # another token counts on its own
