from __future__ import annotations

from django.contrib import admin
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from boards.models import Atelier, HelpOffer, Impossible, MeToo, Participant, Precision, Theme
from boards.services import facilitation


@admin.register(Atelier)
class AtelierAdmin(admin.ModelAdmin):
    list_display = ["title", "starts_at", "territory", "phase", "code", "participant_count", "impossible_count"]
    list_filter = ["phase", "language", "starts_at", "departement", "region"]
    search_fields = ["title", "territory", "commune", "departement", "region", "venue", "code"]
    date_hierarchy = "starts_at"
    filter_horizontal = ["facilitators"]
    # The room is run from the console, which pushes every change live.
    readonly_fields = [
        "code",
        "phase",
        "locked",
        "spotlight",
        "timer_label",
        "timer_ends_at",
        "timer_remaining",
        "version",
        "created_at",
        *facilitation.TERRITORY_CODE_FIELDS,
    ]
    fieldsets = [
        (None, {"fields": ["title", "starts_at", "venue", "language", "categories", "premoderation"]}),
        (
            _("Territoire"),
            {
                "fields": [
                    "commune",
                    "departement",
                    "region",
                    "insee_code",
                    *facilitation.TERRITORY_CODE_FIELDS,
                    "territory",
                ]
            },
        ),
        (_("Animation"), {"fields": ["facilitators", "code", "phase", "locked", "spotlight"]}),
        (
            _("Technique"),
            {
                "classes": ["collapse"],
                "fields": ["timer_label", "timer_ends_at", "timer_remaining", "version", "created_at"],
            },
        ),
    ]

    def save_model(self, request, obj, form, change):
        # The same derivation as the facilitators' form (the codes follow the INSEE code).
        facilitation.apply_territory(obj)
        super().save_model(request, obj, form, change)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_participants=Count("participants", distinct=True), n_impossibles=Count("impossibles", distinct=True)
            )
        )

    @admin.display(description=_("participant·es"), ordering="n_participants")
    def participant_count(self, atelier: Atelier) -> int:
        return atelier.n_participants

    @admin.display(description=_("impossibles"), ordering="n_impossibles")
    def impossible_count(self, atelier: Atelier) -> int:
        return atelier.n_impossibles


class ReadOnlyAdmin(admin.ModelAdmin):
    """Board content changes through the services (versions, live pushes);
    the admin only shows it."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Participant)
class ParticipantAdmin(ReadOnlyAdmin):
    list_display = ["name", "organisation", "role", "atelier", "created_at"]
    list_filter = ["role", "atelier"]
    list_select_related = ["atelier"]
    search_fields = ["name", "organisation"]


@admin.register(Impossible)
class ImpossibleAdmin(ReadOnlyAdmin):
    list_display = [
        "statement",
        "category",
        "atelier",
        "me_too_count",
        "offer_count",
        "reach",
        "theme",
        "hidden",
        "pending",
        "created_at",
    ]
    list_filter = ["category", "reach", "hidden", "pending", "atelier"]
    list_select_related = ["atelier", "theme"]
    search_fields = ["statement", "details"]
    readonly_fields = ["me_too_count", "offer_count", "submission_key"]


@admin.register(HelpOffer)
class HelpOfferAdmin(ReadOnlyAdmin):
    list_display = ["message", "kind", "impossible", "author", "hidden", "created_at"]
    list_select_related = ["impossible", "author"]
    list_filter = ["kind", "hidden"]
    search_fields = ["message"]
    readonly_fields = ["submission_key"]


@admin.register(Precision)
class PrecisionAdmin(ReadOnlyAdmin):
    list_display = ["text", "impossible", "author", "anonymous", "hidden", "created_at"]
    list_select_related = ["impossible", "author"]
    list_filter = ["hidden"]
    search_fields = ["text"]
    readonly_fields = ["submission_key"]


admin.site.register(MeToo, ReadOnlyAdmin)


@admin.register(Theme)
class ThemeAdmin(ReadOnlyAdmin):
    """Themes are curated on the observatoire's pages (/observatoire/themes/),
    by people in the « observatoire » group (given in the users' admin)."""

    list_display = ["name", "category", "status", "updated_at"]
    list_filter = ["status", "category"]
    search_fields = ["name"]
