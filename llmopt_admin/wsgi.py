"""WSGI entry point (gunicorn llmopt_admin.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

from llmopt_admin.chunked_bodies import ChunkedBodies

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "llmopt_admin.settings")
application = ChunkedBodies(get_wsgi_application())
