"""API endpoints of the configs app."""

from ninja import Router

router = Router(tags=["configs"])
