from celery import shared_task

from labeling.services.assignment import leases_reclaim_expired


@shared_task
def reclaim_expired_leases() -> int:
    return leases_reclaim_expired()
