"""The « observatoire » staff role: a group holding the permission to curate
themes, given to people in the admin."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

from boards.observatoire.models import CURATE_PERMISSION, CURATORS_GROUP


def ensure_curators_group(**_kwargs) -> Group:
    """Create the group if it is missing, with its permission. Run after every
    migrate and flush (post_migrate): a database emptied by a flush, as test
    runs and `manage.py flush` do, gets it back with the permissions."""
    app_label, codename = CURATE_PERMISSION.split(".")
    group, _created = Group.objects.get_or_create(name=CURATORS_GROUP)
    permission = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
    if permission is not None:
        group.permissions.add(permission)
    return group
