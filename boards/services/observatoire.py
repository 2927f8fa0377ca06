"""The observatoire's writes: themes suggested by `manage.py
observatoire_themes` and curated by the « observatoire » team.

A theme groups impossibles of many ateliers; it is the observatoire's own
reading of them. Nothing here touches an atelier's board: no version bump,
no live push, no change to the impossibles' text, category or counts, only
their `theme` (and `theme_curated`, once a curator has placed or detached
one, so that later suggestions leave it where the curator put it).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify
from django.utils.translation import gettext as _

from boards.models import Category, Impossible, Theme

NAME_MAX = 200


def _clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError({"name": _("Donnez un nom au thème.")})
    if len(name) > NAME_MAX:
        raise ValidationError({"name": _("Un nom de thème tient en 200 caractères.")})
    return name


def _unique_slug(name: str, exclude: int | None = None) -> str:
    base = slugify(name)[:60].strip("-") or "theme"
    taken = set(Theme.objects.filter(slug__startswith=base).exclude(pk=exclude).values_list("slug", flat=True))
    slug, number = base, 2
    while slug in taken:
        slug = f"{base}-{number}"
        number += 1
    return slug


def suggest_theme(name: str, category: str, impossible_ids: Iterable[int]) -> Theme:
    """A new suggested theme holding these impossibles (those not yet in a
    theme and never placed by a curator)."""
    name = _clean_name(name)[:NAME_MAX]
    if category not in Category.values:
        category = Category.OTHER
    with transaction.atomic():
        theme = Theme.objects.create(
            name=name, slug=_unique_slug(name), category=category, status=Theme.Status.SUGGESTED
        )
        _free(impossible_ids).update(theme=theme)
    return theme


def extend_theme(theme: Theme, impossible_ids: Iterable[int]) -> int:
    """Suggest more impossibles for an existing theme; returns how many joined."""
    return _free(impossible_ids).update(theme=theme)


def _free(impossible_ids: Iterable[int]):
    return Impossible.objects.filter(pk__in=list(impossible_ids), theme__isnull=True, theme_curated=False)


def accept(theme: Theme) -> Theme:
    """Publish a theme: its name may now appear on public pages."""
    with transaction.atomic():
        Theme.objects.filter(pk=theme.pk).update(status=Theme.Status.ACCEPTED)
        # Its impossibles are now the curator's choice too.
        theme.impossibles.update(theme_curated=True)
    theme.refresh_from_db()
    return theme


def rename(theme: Theme, name: str) -> Theme:
    """A new name; a suggested theme's address follows it, an accepted
    one's stays: it is the theme's identifier in the open data and in links."""
    theme.name = _clean_name(name)
    if not theme.accepted:
        theme.slug = _unique_slug(theme.name, exclude=theme.pk)
    theme.save(update_fields=["name", "slug", "updated_at"])
    return theme


def merge(source: Theme, target: Theme) -> Theme:
    """Move every impossible of `source` into `target` and delete `source`.
    The merged theme is accepted if either was."""
    if source.pk == target.pk:
        raise ValidationError({"target": _("Choisissez un autre thème que celui-ci.")})
    with transaction.atomic():
        source.impossibles.update(theme=target, theme_curated=True)
        if source.accepted and not target.accepted:
            Theme.objects.filter(pk=target.pk).update(status=Theme.Status.ACCEPTED)
        source.delete()
    target.refresh_from_db()
    return target


def split(theme: Theme, impossible_ids: Iterable[int], name: str) -> Theme:
    """Move the chosen impossibles of `theme` into a new theme named `name`,
    with the same category and status."""
    name = _clean_name(name)
    chosen = theme.impossibles.filter(pk__in=list(impossible_ids))
    if not chosen.exists():
        raise ValidationError({"impossibles": _("Choisissez les impossibles à déplacer.")})
    with transaction.atomic():
        new = Theme.objects.create(name=name, slug=_unique_slug(name), category=theme.category, status=theme.status)
        chosen.update(theme=new, theme_curated=True)
    return new


def detach(theme: Theme, impossible_id: int) -> bool:
    """Take one impossible out of its theme, for good: suggestions will not
    put it back. False when it was not in this theme."""
    return bool(Impossible.objects.filter(pk=impossible_id, theme=theme).update(theme=None, theme_curated=True))
