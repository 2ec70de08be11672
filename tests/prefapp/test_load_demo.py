import pytest
from django.core.management import call_command

from labeling.models import Membership, Pair, Project, Prompt
from training.models import TrainingRun
from training.selectors import schedule_get


@pytest.mark.django_db
@pytest.mark.slow
def test_it_loads_the_demo_once_and_again_adds_nothing(settings, tmp_path, capsys):
    settings.PREFAPP_DATA_DIR = tmp_path / "data"
    settings.PREFAPP_MODEL_ROOTS = [str(tmp_path / "data" / "tiny-models")]  # as by default
    call_command("load_demo")
    project = Project.objects.get(slug="demo")
    pairs = Pair.objects.filter(project=project).count()
    assert pairs > 0
    roles = dict(Membership.objects.filter(project=project).values_list("user__username", "role"))
    assert roles == {"manager": "manager", "alice": "annotator", "bob": "annotator"}
    schedule = schedule_get(project=project)
    assert schedule is not None
    assert (tmp_path / "data" / "tiny-models" / "policy" / "config.json").is_file()
    assert "login manager / manager-demo-pass" in capsys.readouterr().out

    loop = Project.objects.get(slug="loop-demo")
    assert Prompt.objects.filter(project=loop, heldout=False).count() == 64
    assert Prompt.objects.filter(project=loop, heldout=True).count() == 32
    generation = TrainingRun.objects.get(project=loop, kind="generate")
    assert generation.status == "queued"
    assert generation.config["prompt_set"] == "all" and generation.config["k"] == 4
    assert (tmp_path / "data" / "tiny-models" / "toy" / "policy" / "config.json").is_file()
    assert loop.loop_settings.enabled and loop.loop_settings.policy_method == "dpo"
    assert loop.rounds.get().number == 1

    call_command("load_demo")
    assert Pair.objects.filter(project=project).count() == pairs
    assert Project.objects.filter(slug="demo").count() == 1
    assert Prompt.objects.filter(project=loop).count() == 96
    assert TrainingRun.objects.filter(project=loop).count() == 1
