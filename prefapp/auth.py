"""Django's model backend, loading the request's user with one plain query.

Every request loads its user from the session's id; through the ORM, building that query costs
several times what PostgreSQL spends answering it (bench/README.md). The rules are Django's own:
inactive users are refused here, and the middleware still checks the session's password hash,
so a password change still logs out the other sessions.
"""

from functools import cache

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.db import connection

from labeling.rows import columns, cursor, instance


@cache
def _user_sql() -> str:
    model = get_user_model()
    table = connection.ops.quote_name(model._meta.db_table)
    return f'SELECT {columns(model, "u")} FROM {table} u WHERE u."{model._meta.pk.column}" = %s'


class UserByIdBackend(ModelBackend):
    def get_user(self, user_id):  # noqa: ANN001, ANN201 - Django's signature
        model = get_user_model()
        try:
            pk = model._meta.pk.to_python(user_id)
        except Exception:  # noqa: BLE001 - a malformed id in a session is no user, as in Django
            return None
        with cursor() as db:
            db.execute(_user_sql(), [pk])
            row = db.fetchone()
        if row is None:
            return None
        user = instance(model, row)
        return user if self.user_can_authenticate(user) else None
