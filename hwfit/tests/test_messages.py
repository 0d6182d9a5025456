"""hwfit.middleware.LazyMessageMiddleware: messages work as Django's do, made only when used."""

import pytest
from django.contrib import messages
from django.contrib.messages.storage.cookie import CookieStorage
from django.utils.functional import SimpleLazyObject, empty

from devices.models import Device
from hwfit.tests.test_pages import admin_form_data

pytestmark = pytest.mark.django_db


def test_an_admin_save_shows_its_message_on_the_next_page(client, staff_user):
    client.force_login(staff_user)
    device = Device.objects.get(slug="nvidia-geforce-rtx-4090")
    url = f"/admin/devices/device/{device.pk}/change/"
    data = {**admin_form_data(client, url), "derived_fields": "[]"}
    response = client.post(url, {name: value for name, value in data.items() if value is not False}, follow=True)
    shown = [str(message) for message in response.context["messages"]]
    assert any("was changed successfully" in message for message in shown), shown
    # Shown once: the next page has no message left.
    assert not list(client.get("/admin/").context["messages"])


def test_a_request_that_uses_no_message_makes_no_storage(client, rf):
    response = client.get("/api/v1/devices/", {"page_size": 1})
    assert response.status_code == 200 and "messages" not in response.cookies
    stored = response.wsgi_request._messages
    assert type(stored) is SimpleLazyObject and stored._wrapped is empty  # never made


def test_a_message_added_by_a_view_is_stored_for_the_next_request(rf):
    from django.contrib.sessions.middleware import SessionMiddleware
    from django.http import HttpResponse

    from hwfit.middleware import LazyMessageMiddleware

    def view(request):
        messages.info(request, "Saved.")
        return HttpResponse("ok")

    request = rf.get("/")
    SessionMiddleware(lambda r: HttpResponse()).process_request(request)
    response = LazyMessageMiddleware(view)(request)
    later = rf.get("/")
    later.COOKIES["messages"] = response.cookies["messages"].value
    assert [str(message) for message in CookieStorage(later)] == ["Saved."]
