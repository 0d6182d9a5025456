"""hwfit.deferred: shared-cache writes wait until the answer is sent, and are never lost or fatal."""

import logging

import pytest
from django.core.signals import request_finished
from django.http import HttpResponse
from django.test import RequestFactory

from hwfit import deferred


@pytest.fixture(autouse=True)
def no_database_on_close():
    # As Django's test client does around `response.close()`: closing old connections is not
    # what these tests are about, and they have no database.
    from django.db import close_old_connections

    request_finished.disconnect(close_old_connections)
    yield
    request_finished.connect(close_old_connections)


def respond_deferring(done: list, *, fail: bool = False):
    def view(request):
        deferred.defer(done.append, "stored")
        if fail:
            raise RuntimeError("the view failed after deferring")
        assert done == []  # still waiting while the answer is made
        return HttpResponse("answer")

    return deferred.DeferredWorkMiddleware(view)


def test_it_runs_deferred_work_once_the_response_is_closed():
    done = []
    response = respond_deferring(done)(RequestFactory().get("/"))
    assert response.content == b"answer" and done == []
    response.close()  # what the server does after sending the body: request_finished
    assert done == ["stored"]


def test_it_runs_work_at_once_outside_a_request():
    done = []
    deferred.defer(done.append, "now")
    assert done == ["now"]


def test_a_request_that_raises_stops_deferring_and_its_work_still_runs():
    done = []
    with pytest.raises(RuntimeError):
        respond_deferring(done, fail=True)(RequestFactory().get("/"))
    deferred.defer(done.append, "after")  # no longer inside a request: at once
    assert done == ["after"]
    request_finished.send(sender=None)  # Django closes the 500 it answers the error with
    assert done == ["after", "stored"]


def test_failing_work_is_logged_not_raised(caplog):
    def broken():
        raise ConnectionError("Redis went away")

    response = deferred.DeferredWorkMiddleware(lambda request: (deferred.defer(broken), HttpResponse("ok"))[1])(
        RequestFactory().get("/"))
    with caplog.at_level(logging.ERROR, logger="hwfit.deferred"):
        response.close()
    assert "deferred" in caplog.text and "Redis went away" in caplog.text
