import factory
from django.contrib.auth import get_user_model

from labeling.models import Candidate, CrowdStudy, Membership, Pair, Platform, Project, Prompt

PASSWORD = "a-test-password-1"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password(PASSWORD)


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Project {n}")
    slug = factory.Sequence(lambda n: f"project-{n}")
    instructions = "Pick the **better** response."


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    project = factory.SubFactory(ProjectFactory)
    role = Membership.Role.ANNOTATOR


class CrowdStudyFactory(factory.django.DjangoModelFactory):
    """A Prolific study with its default URL parameters and a short batch."""

    class Meta:
        model = CrowdStudy

    project = factory.SubFactory(ProjectFactory)
    platform = Platform.PROLIFIC
    participant_param = "PROLIFIC_PID"
    study_param = "STUDY_ID"
    session_param = "SESSION_ID"
    batch_size = 3
    completion_code = "DONE1234"
    screened_out_code = "SCREEN99"


class PromptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Prompt

    project = factory.SubFactory(ProjectFactory)
    external_id = factory.Sequence(lambda n: f"p{n}")
    messages = factory.Sequence(lambda n: [{"role": "user", "content": f"Question {n}?"}])


class CandidateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Candidate

    prompt = factory.SubFactory(PromptFactory)
    text = factory.Sequence(lambda n: f"Answer {n}.")
    source = "test-model"


def make_pairs(project: Project, count: int, **pair_fields) -> list[Pair]:
    """`count` pairs, each of its own prompt with two candidates."""
    pairs = []
    for _ in range(count):
        prompt = PromptFactory(project=project)
        a, b = CandidateFactory(prompt=prompt), CandidateFactory(prompt=prompt)
        pairs.append(
            Pair.objects.create(
                project=project, prompt=prompt, candidate_a=a, candidate_b=b, **pair_fields
            )
        )
    return pairs
