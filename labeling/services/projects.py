from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction

from labeling.models import Membership, Project, Prompt


def project_create(*, name: str, slug: str, **options: object) -> Project:
    return Project.objects.create(name=name, slug=slug, **options)


def membership_set(*, project: Project, user: User, role: str) -> Membership:
    membership, _ = Membership.objects.update_or_create(
        project=project, user=user, defaults={"role": role}
    )
    return membership


def user_ensure(*, username: str, password: str, is_staff: bool = False) -> User:
    """Create the user, or reset the password of an existing one (demo and test logins)."""
    with transaction.atomic():
        user, _ = get_user_model().objects.get_or_create(username=username)
        user.set_password(password)
        user.is_staff = user.is_superuser = is_staff
        user.save()
    return user


def prompts_hold_out(*, project: Project, external_ids: list[str]) -> int:
    """Mark prompts as held out for evaluation: generation for labelling leaves them out."""
    return Prompt.objects.filter(project=project, external_id__in=external_ids).update(heldout=True)
