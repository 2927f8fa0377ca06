"""Exports of an atelier's action plan: one class per format behind a registry.

Adding a format is adding a class with ``@register``. Every exporter renders
the same `boards.plan.Plan`, built once by `export`, inside the atelier's
language and time zone: a plan exported by an English-speaking facilitator
for a French atelier is in French, and an atelier in La Réunion shows its
own hours. Exporters never query the database, so an export costs the
plan's constant number of queries whatever the atelier's size.

User text (statements, titles, names, messages) is shown literally in every
format: escaped for PDF markup and Markdown, kept as text (never formulas)
in spreadsheets. Contacts appear only in plans built with
``include_contacts=True``; an impossible posted without a name has no author
in any format (the plan already leaves it out).
"""

from __future__ import annotations

from typing import ClassVar

from django.utils.functional import Promise

from boards.locale import atelier_locale
from boards.plan_document import Plan, build_plan

# --- Registry ---------------------------------------------------------------------------------


class Exporter:
    identifier: ClassVar[str]  # in URLs
    verbose_name: ClassVar[str | Promise]
    extension: ClassVar[str]
    content_type: ClassVar[str]

    def render(self, plan: Plan) -> bytes:
        raise NotImplementedError

    def filename(self, plan: Plan) -> str:
        return f"{plan.filename_stem}.{self.extension}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.identifier}>"


_registry: dict[str, Exporter] = {}


def register(cls: type[Exporter]) -> type[Exporter]:
    if cls.identifier in _registry:
        raise ValueError(f"two exporters for {cls.identifier!r}")
    _registry[cls.identifier] = cls()
    return cls


def get(identifier: str) -> Exporter | None:
    return _registry.get(identifier)


# The order formats are offered in: the document first, then data.
OFFERED = ("pdf", "xlsx", "csv", "md", "json", "ics")


def all_exporters() -> list[Exporter]:
    """Every format, in the order they are offered."""
    rank = {identifier: position for position, identifier in enumerate(OFFERED)}
    return sorted(_registry.values(), key=lambda exporter: rank.get(exporter.identifier, len(rank)))


def export(atelier, identifier: str, *, include_contacts: bool) -> tuple[str, str, bytes]:
    """(filename, content type, content) of one atelier's plan in one format."""
    exporter = get(identifier)
    if exporter is None:
        raise LookupError(f"unknown export format: {identifier!r}")
    # Documents speak the atelier's language and keep its time zone.
    with atelier_locale(atelier):
        plan = build_plan(atelier, include_contacts=include_contacts)
        content = exporter.render(plan)
    return exporter.filename(plan), exporter.content_type, content


# The formats register themselves on import.
from boards.exporters import calendars, markdown, opendata, pdf, spreadsheets  # noqa: E402, F401
