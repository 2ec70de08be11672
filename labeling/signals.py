"""What other apps hear about a project's life, without labeling importing them.

Sent by labeling/services/projects.py inside the transaction of the change. The training app
connects to them (training/apps.py): on archive it cancels the project's queued runs, on delete
it removes the project's files once the deletion is committed. A receiver may return a dict of
facts to add to the audit record (e.g. how many runs it cancelled).
"""

from django.dispatch import Signal

# Sent with project= and actor= after the project is marked archived.
project_archived = Signal()
# Sent with project= and actor= before the project's rows are deleted.
project_deleting = Signal()
