"""The ids that stand for annotators in exported files. Only managers see whose they are
(the quality page); the files themselves never carry a username."""

import hashlib
import hmac

from django.conf import settings


def annotator_pseudonym(*, project_id: int, user_id: int | None) -> str:
    """A stable id for an annotator in exported files: it never reveals the username and is
    different in each project, so files of two projects cannot be joined on it."""
    if user_id is None:
        return "imported"
    message = f"prefapp-annotator:{project_id}:{user_id}".encode()
    return "ann-" + hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()[:16]
