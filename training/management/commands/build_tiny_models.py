from pathlib import Path

from django.core.management.base import BaseCommand, CommandParser

from training.services.demo import tiny_models_dir, tiny_models_ensure


class Command(BaseCommand):
    help = (
        "Build a tiny Llama policy and reward model (random weights, a tokenizer trained on "
        "local text) for training offline; prints their directories."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", type=Path, help=f"directory (default: {tiny_models_dir()})")
        parser.add_argument("--force", action="store_true", help="rebuild even if present")

    def handle(self, *args, **options) -> None:
        paths = tiny_models_ensure(out_dir=options["out"], force=options["force"])
        for name, path in paths.items():
            self.stdout.write(f"{name}: {path}")
