"""API endpoints of the savings app."""

from ninja import Router

router = Router(tags=["savings"])
