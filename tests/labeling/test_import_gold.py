import pytest

from labeling.models import Choice, Judgment, Pair
from labeling.selectors_quality import project_quality
from labeling.services.assignment import assignment_next
from labeling.services.importing import ImportFailed
from labeling.services.judgment import judgment_record
from tests.labeling.datafiles import TRL_STANDARD, db_counts, import_bytes, jsonl

pytestmark = pytest.mark.django_db


def _chosen_text(pair: Pair) -> str:
    return pair.candidate_a.text if pair.gold_choice == Choice.A else pair.candidate_b.text


def test_it_imports_preferences_as_gold_pairs(project):
    result = import_bytes(project, jsonl(TRL_STANDARD), format="trl", as_gold=True)
    assert (result.pairs, result.gold_pairs, result.judgments) == (2, 2, 0)
    pairs = list(Pair.objects.filter(project=project))
    assert all(p.is_gold and (p.judgment_count, p.taken, p.is_full) == (0, 0, False) for p in pairs)
    assert sorted(_chosen_text(p) for p in pairs) == ["4", "Blue."]
    assert not Judgment.objects.exists()


def test_it_refuses_gold_from_a_format_without_preferences(project):
    before = db_counts()
    with pytest.raises(ImportFailed, match="line 1.*gold pairs need a preference"):
        import_bytes(
            project,
            jsonl([{"id": "p1", "prompt": "Hi", "responses": ["a", "b"]}]),
            format="candidates",
            as_gold=True,
        )
    assert db_counts() == before


def test_it_serves_gold_pairs_and_scores_annotators_on_them(project, annotator):
    project.gold_rate = 1.0
    project.save()
    import_bytes(project, jsonl(TRL_STANDARD), format="trl", as_gold=True)
    for _ in range(2):
        lease = assignment_next(project=project, annotator=annotator)
        assert lease.pair.is_gold
        # Always pick the gold answer's side.
        gold_on_left = (lease.pair.gold_choice == Choice.A) == lease.left_is_a
        judgment_record(
            project=project,
            assignment_id=lease.pk,
            annotator=annotator,
            side="left" if gold_on_left else "right",
        )
    quality = project_quality(project=project)
    (row,) = [a for a in quality.annotators if a.gold_judgments]
    assert (row.gold_judgments, row.gold_accuracy) == (2, 1.0)
