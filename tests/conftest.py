import pytest
from django.core.cache import cache

from chargecars.celery import app as celery_app


@pytest.fixture(autouse=True, scope="session")
def _tasks_queue_in_memory():
    # Tasks that code under test queues (on commit) must not land in a real broker, such
    # as the var/broker folder a developer's `make run` worker reads. The worker tests
    # point the app at Redis themselves.
    previous = celery_app.conf.broker_url
    celery_app.conf.broker_url = "memory://"
    yield
    celery_app.conf.broker_url = previous


@pytest.fixture(autouse=True)
def _test_settings(settings):
    # Partners are played by local HTTP servers on 127.0.0.1 in tests.
    settings.PARTNER_ALLOW_PRIVATE_NETWORKS = True
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()
