"""The per-project record of what managers did. Reads are in labeling.selectors_admin."""

from typing import Any

from django.contrib.auth.models import AnonymousUser, User

from labeling.models import AuditEvent, Project


def audit_record(
    *,
    project: Project,
    actor: User | AnonymousUser | None,
    action: str,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Store one event. `actor` None: the system or a command line did it.

    Called inside the transaction of the change it records, so the two are stored together.
    """
    person = actor if actor is not None and actor.is_authenticated else None
    return AuditEvent.objects.create(
        project=project,
        project_slug=project.slug,
        actor=person,
        actor_name=person.get_username() if person is not None else "",
        action=action,
        details=details or {},
    )
