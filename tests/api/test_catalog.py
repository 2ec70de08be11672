"""Prompts, candidates and pairs: lists by cursor with counts, reads, bulk priority."""

from labeling.models import Pair
from tests.factories import make_pairs

JSON = "application/json"


def test_it_lists_by_cursor_with_counts(project, manager_api, annotator_api):
    pairs = make_pairs(project, 3)
    base = f"/api/v1/projects/{project.slug}"
    lease = annotator_api.post(f"{base}/labelling/next").json()["lease"]
    annotator_api.post(
        f"{base}/labelling/submit",
        {"assignment_id": lease["assignment_id"], "side": "left"},
        content_type=JSON,
    )
    page = manager_api.get(f"{base}/prompts?page_size=2").json()
    assert len(page["results"]) == 2 and page["next"]
    rest = manager_api.get(page["next"]).json()
    rows = page["results"] + rest["results"]
    assert [r["id"] for r in rows] == sorted(p.prompt_id for p in pairs) and not rest["next"]
    assert sum(r["judgment_count"] for r in rows) == 1
    assert all(r["candidate_count"] == 2 and r["pair_count"] == 1 for r in rows)
    one = manager_api.get(f"{base}/prompts/{pairs[0].prompt_id}").json()
    assert one["messages"][0]["role"] == "user"
    candidates = manager_api.get(f"{base}/candidates?prompt_id={pairs[0].prompt_id}").json()
    assert [c["pair_count"] for c in candidates["results"]] == [1, 1]
    judged = manager_api.get(f"{base}/pairs?is_full=true").json()["results"]
    assert [p["judgment_count"] for p in judged] == [1]
    assert manager_api.get(f"{base}/pairs/999999").status_code == 404


def test_it_sets_priorities_in_bulk_in_its_own_project_only(project, manager_api):
    mine = make_pairs(project, 2)
    from tests.factories import ProjectFactory

    theirs = make_pairs(ProjectFactory(), 1)[0]
    answer = manager_api.post(
        f"/api/v1/projects/{project.slug}/pairs/priority",
        {"priorities": [{"pair_id": p.pk, "priority": 5.0} for p in [*mine, theirs]]},
        content_type=JSON,
    )
    assert answer.json() == {"updated": 2}
    assert set(Pair.objects.filter(priority=5.0)) == set(mine)


def test_it_reads_projects_and_their_progress_for_managers(project, manager_api, annotator_api):
    listed = manager_api.get("/api/v1/projects").json()["results"]
    assert [(p["role"], p["project"]["slug"]) for p in listed] == [("manager", project.slug)]
    assert manager_api.get(f"/api/v1/projects/{project.slug}").json()["progress"]["pairs"] == 0
    assert annotator_api.get(f"/api/v1/projects/{project.slug}").json()["progress"] is None
