"""The Celery app of the admin: batch job submission, polling and result ingestion.

Workers: `celery -A llmopt_admin worker -B -l info` (`-B` runs the beat scheduler in the same
process, enough for one worker; run `celery -A llmopt_admin beat` separately when several
workers run). The broker is REDIS_URL when set, otherwise the embedded filesystem broker under
var/celery/, which the web process and the worker share (see settings.CELERY_BROKER_URL).
"""

from __future__ import annotations

import os
from pathlib import Path

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "llmopt_admin.settings")

app = Celery("llmopt_admin")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _make_broker_folders(sender: Celery, **kwargs: object) -> None:
    """The filesystem transport does not create its folders itself, nor beat its schedule's."""
    schedule = sender.conf.beat_schedule_filename
    if schedule:
        Path(schedule).parent.mkdir(parents=True, exist_ok=True)
    if not str(sender.conf.broker_url or "").startswith("filesystem://"):
        return
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)
