from celery import shared_task

from labeling.services.assignment import leases_reclaim_expired
from labeling.services.selection import queue_reorder
from labeling.services.simulation import simulation_run


@shared_task
def reclaim_expired_leases() -> int:
    return leases_reclaim_expired()


@shared_task(name="labeling.tasks.reorder_queue")
def reorder_queue(project_id: int, reset: bool = False) -> int:
    return queue_reorder(project_id=project_id, reset=reset)


@shared_task(name="labeling.tasks.simulate_annotators")
def simulate_annotators(
    project_id: int, oracle: str, annotators: int, noise: float, budget: int | None, seed: int
) -> int:
    return simulation_run(
        project_id=project_id,
        oracle=oracle,
        annotators=annotators,
        noise=noise,
        budget=budget,
        seed=seed,
    )
