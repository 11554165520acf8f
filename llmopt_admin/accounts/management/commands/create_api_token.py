"""Issue an API token for a machine client; the token is printed once and stored only hashed."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from llmopt_admin.accounts.services import api_token_create


class Command(BaseCommand):
    help = "Create an API token for USERNAME (prints it once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="backend", help="What will use the token.")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"no user named {options['username']!r}")
        _, raw = api_token_create(user=user, name=options["name"])
        self.stdout.write(raw)
