"""The admin says it is hwfit's, with readable labels."""

import pytest

pytestmark = pytest.mark.django_db


def test_the_admin_is_titled_hwfit_with_readable_app_names(client, staff_user):
    client.force_login(staff_user)
    body = client.get("/admin/").content.decode()
    assert "<title>Catalog and calibration | hwfit admin</title>" in body
    assert '<a href="/admin/">hwfit</a>' in body
    assert "Models catalog" in body and "Models_Catalog" not in body


def test_the_admin_labels_read_as_words(client, staff_user):
    client.force_login(staff_user)
    offers = client.get("/admin/devices/cloudoffer/").content.decode()
    assert "GPU count" in offers and "Gpu count" not in offers
    model = client.get("/admin/models_catalog/modelarchitecture/add/").content.decode()
    assert "Organisation:" in model
