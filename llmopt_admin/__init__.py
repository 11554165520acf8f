"""The llmopt admin: a Django site for operators of the optimization package."""

from llmopt_admin.celery import app as celery_app

__all__ = ["celery_app"]
