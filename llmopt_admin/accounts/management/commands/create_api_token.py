"""Issue an API token for a machine client; the token is printed once and stored only hashed."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from llmopt_admin.accounts.scopes import SCOPES, UnknownScope, scopes_parse
from llmopt_admin.accounts.services import api_token_create

SCOPE_HELP = "; ".join(f"{name}: {what}" for name, what in SCOPES.items())


class Command(BaseCommand):
    help = (
        "Create an API token for USERNAME with the given scopes. The token alone goes to stdout "
        "(shown once); what it may do goes to stderr."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="backend", help="What will use the token.")
        parser.add_argument(
            "--scope",
            action="append",
            required=True,
            metavar="SCOPE",
            help=f"What the token may do, repeatable or comma-separated. {SCOPE_HELP}.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            scopes = scopes_parse(options["scope"])
        except UnknownScope as error:
            raise CommandError(str(error)) from None
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"no user named {options['username']!r}")
        _, raw = api_token_create(user=user, name=options["name"], scopes=scopes)
        self.stdout.write(raw)
        self.stderr.write(
            f"API token {options['name']!r} for {user.get_username()!r}, scopes: "
            f"{', '.join(scopes)}. It is shown only this once and stored only hashed; see it, "
            "change its scopes or revoke it in /admin/ (API tokens). Tokens made before scopes "
            "existed were given ingest only.",
            style_func=self.style.SUCCESS,
        )
