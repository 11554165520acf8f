"""Create the first staff user for a local run; the password is printed once and never stored."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Create a superuser (default 'admin') with a random password, unless one exists."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")

    def handle(self, *args: Any, **options: Any) -> None:
        username = options["username"]
        users = get_user_model().objects
        if users.filter(username=username).exists():
            self.stdout.write(
                f"Staff user {username!r} already exists (its password was printed when it was "
                f"created; to set a new one: python manage.py changepassword {username})."
            )
            return
        password = secrets.token_urlsafe(12)
        users.create_superuser(username=username, email="", password=password)
        self.stdout.write(
            self.style.SUCCESS(f"Created staff user {username!r} with password: {password}")
        )
        self.stdout.write("This is the only time the password is shown.")
