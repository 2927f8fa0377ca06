from __future__ import annotations

from django.contrib import admin

from boards.models import Atelier, HelpOffer, Impossible, MeToo, Participant


@admin.register(Atelier)
class AtelierAdmin(admin.ModelAdmin):
    list_display = ["title", "territory", "starts_at", "code", "version"]
    search_fields = ["title", "territory", "code"]
    readonly_fields = ["version"]


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
    search_fields = ["name", "organisation"]


@admin.register(Impossible)
class ImpossibleAdmin(ReadOnlyAdmin):
    list_display = ["statement", "category", "atelier", "me_too_count", "offer_count", "hidden", "created_at"]
    list_filter = ["category", "hidden", "atelier"]
    search_fields = ["statement", "details"]
    readonly_fields = ["me_too_count", "offer_count", "submission_key"]


@admin.register(HelpOffer)
class HelpOfferAdmin(ReadOnlyAdmin):
    list_display = ["message", "kind", "impossible", "author", "hidden", "created_at"]
    list_filter = ["kind", "hidden"]
    search_fields = ["message"]
    readonly_fields = ["submission_key"]


admin.site.register(MeToo, ReadOnlyAdmin)
