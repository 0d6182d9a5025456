"""Who may do what through the API: anyone reads, staff write only what the admin lets them write."""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, DjangoModelPermissions


class ModelPermissionsOrReadOnly(DjangoModelPermissions):
    """Anyone may read; a write needs what the admin needs for the same change.

    The admin admits active staff and then checks `<app>.add_/change_/delete_<model>`; a staff
    user without those permissions could otherwise edit every catalog through the API. A view
    without a model (the API root) is written to by no one but staff, as before.
    """

    # Read by the schema (hwfit/api_schema.py): reads need no credentials.
    readable_by_anyone = True

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return True
        user = request.user
        if not (user and user.is_authenticated and user.is_active and user.is_staff):
            return False
        if getattr(view, "queryset", None) is None and not hasattr(view, "get_queryset"):
            return True
        return super().has_permission(request, view)
