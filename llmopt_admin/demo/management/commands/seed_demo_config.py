"""Store the demo `aiconfigs` document unless the config store already holds one."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from llmopt_admin.configs.stores import get_config_store
from llmopt_admin.demo.documents import demo_ai_models_document
from optimization.stores.base import AI_MODELS_KEY, DocumentNotFound


class Command(BaseCommand):
    help = "Seed the config store with a PipesHub-shaped aiconfigs document (optimizations off)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--store", default=None, help="Config store name (default: settings).")

    def handle(self, *args: Any, **options: Any) -> None:
        store = get_config_store(options["store"])
        try:
            store.read(AI_MODELS_KEY)
        except DocumentNotFound:
            stored = store.write(AI_MODELS_KEY, demo_ai_models_document(), expected_revision=None)
            providers = ", ".join(entry["provider"] for entry in stored.body["llm"])
            self.stdout.write(f"Seeded {AI_MODELS_KEY!r} in the {store.name} store: {providers}.")
            return
        self.stdout.write(
            f"{AI_MODELS_KEY!r} already exists in the {store.name} store; left as it is."
        )
