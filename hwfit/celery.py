"""The Celery application.

With no broker configured (the embedded default), tasks run in-process (eager) so that a fresh
checkout works with nothing else running. With CELERY_BROKER_URL set, tasks go to Redis and run
on `celery -A hwfit worker` processes, one or more per device host.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hwfit.settings")

app = Celery("hwfit")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
