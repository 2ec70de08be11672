from celery import shared_task

from api.models import WebhookDelivery
from api.services.idempotency import idempotent_responses_purge
from api.services.imports import import_job_run
from api.services.webhooks import MAX_ATTEMPTS, delivery_attempt, retry_delay, webhooks_check


@shared_task(name="api.tasks.run_import_job")
def run_import_job(job_id: int) -> str:
    return import_job_run(job_id=job_id).status


@shared_task(name="api.tasks.check_webhooks")
def check_webhooks() -> int:
    return len(webhooks_check())


@shared_task(name="api.tasks.deliver_webhook", bind=True, max_retries=MAX_ATTEMPTS)
def deliver_webhook(self, delivery_id: int) -> str:  # type: ignore[no-untyped-def]
    delivery = delivery_attempt(delivery_id=delivery_id)
    if delivery.status == WebhookDelivery.Status.PENDING:
        raise self.retry(countdown=retry_delay(delivery.attempts))
    return delivery.status


@shared_task(name="api.tasks.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    return idempotent_responses_purge()
