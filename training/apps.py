from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "training"
    verbose_name = "Training"

    def ready(self) -> None:
        # labeling never imports training: it announces a project's archive and deletion, and
        # the training side cancels its runs and removes its models here.
        from labeling import signals
        from training.services import projects

        signals.project_archived.connect(_receiver(projects.runs_cancel_for_archive), weak=False)
        signals.project_deleting.connect(_receiver(projects.training_data_delete), weak=False)


def _receiver(service):
    def receive(sender, **kwargs):
        return service(**kwargs)

    return receive
