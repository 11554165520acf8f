"""API endpoints of the batches app."""

from ninja import Router

router = Router(tags=["batches"])
