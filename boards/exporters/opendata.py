"""The plan as versioned JSON, for other tools and open data."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

from django.utils.translation import gettext_lazy

from boards.exporters import Exporter, register
from boards.plan_document import HelperRow, OfferRow, Plan

SCHEMA_ID = "https://cerveau-collectif.fr/schemas/plan-v1.json"
SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "plan-v1.schema.json"


# --- JSON ------------------------------------------------------------------------------------------


def _iso(value: datetime.date | datetime.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@register
class JsonExporter(Exporter):
    """Versioned JSON for other tools; schema in boards/schemas/plan-v1.schema.json,
    described in docs/plan-json.md."""

    identifier = "json"
    verbose_name = gettext_lazy("JSON (pour d'autres outils)")
    extension = "json"
    content_type = "application/json"

    def render(self, plan: Plan) -> bytes:
        return json.dumps(self.document(plan), ensure_ascii=False, indent=2).encode()

    def document(self, plan: Plan) -> dict[str, Any]:
        atelier = plan.atelier
        contacts = plan.include_contacts

        def person(name: str, organisation: str) -> dict[str, str]:
            return {"name": name, "organisation": organisation}

        def helper(row: HelperRow) -> dict[str, Any]:
            data = {
                "offer_id": row.offer_id,
                **person(row.name, row.organisation),
                "kind": row.kind,
                "kind_label": row.kind_label,
                "message": row.message,
            }
            if contacts:
                data["contact"] = row.contact or ""
            return data

        def offer(row: OfferRow) -> dict[str, Any]:
            data = {
                "id": row.id,
                "impossible_id": row.impossible_id,
                "kind": row.kind,
                "kind_label": row.kind_label,
                "message": row.message,
                "author": person(row.author_name, row.author_organisation),
                "accepted": row.accepted,
                "created_at": _iso(row.created_at),
            }
            if contacts:
                data["contact"] = row.contact or ""
            return data

        return {
            "schema": SCHEMA_ID,
            "schema_version": SCHEMA_VERSION,
            "generated_at": _iso(plan.generated_at),
            "contacts_included": contacts,
            "atelier": {
                "title": atelier.title,
                "territory": atelier.territory,
                "commune": atelier.commune,
                "departement": atelier.departement,
                "region": atelier.region,
                "insee_code": atelier.insee_code,
                "venue": atelier.venue,
                "starts_at": _iso(plan.starts_at),
                "language": plan.language,
                "time_zone": plan.time_zone,
                "facilitators": plan.facilitators,
            },
            "statuses": [{"value": value, "label": label} for value, label in plan.statuses],
            "figures": {
                "participants": plan.figures.participants,
                "impossibles": plan.figures.impossibles,
                "me_toos": plan.figures.me_toos,
                "offers": plan.figures.offers,
                "actions": plan.figures.actions,
                "by_status": dict(plan.figures.by_status),
                "overdue": plan.figures.overdue,
            },
            "actions": [
                {
                    "id": row.id,
                    "title": row.title,
                    "impossible_id": row.impossible_id,
                    "category": row.category,
                    "category_label": row.category_label,
                    "me_too_count": row.me_too_count,
                    "pilot": {
                        "id": row.pilot_id,
                        **person(row.pilot_name, row.pilot_organisation),
                        "is_participant": row.pilot_is_participant,
                    },
                    "helpers": [helper(h) for h in row.helpers],
                    "next_step": row.next_step,
                    "due_on": _iso(row.due_on),
                    "status": row.status,
                    "status_label": row.status_label,
                    "overdue": row.overdue,
                    "created_at": _iso(row.created_at),
                    "updated_at": _iso(row.updated_at),
                }
                for row in plan.actions
            ],
            "impossibles": [
                {
                    "id": row.id,
                    "statement": row.statement,
                    "details": row.details,
                    "category": row.category,
                    "category_label": row.category_label,
                    "anonymous": row.anonymous,
                    "author": None
                    if row.author_name is None
                    else {
                        **person(row.author_name, row.author_organisation or ""),
                        "role_label": row.author_role_label or "",
                    },
                    "me_too_count": row.me_too_count,
                    "offer_count": row.offer_count,
                    "action_count": row.action_count,
                    "created_at": _iso(row.created_at),
                }
                for row in plan.impossibles
            ],
            "offers": [offer(row) for row in plan.offers],
            "without_action": [row.id for row in plan.without_action],
            "without_helper": [row.id for row in plan.without_helper],
        }
