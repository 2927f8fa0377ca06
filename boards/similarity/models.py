"""What the similarity engine keeps in the database (imported by boards.models)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ImpossibleFeatures(models.Model):
    """The terms of one impossible's statement, computed once when it is posted
    or edited (`boards.similarity.refresh`) so that a look-up reads them
    instead of analysing every statement of the board again.

    A row is used only while `version` is the engine's and `statement` is the
    impossible's current statement (the database compares them): after an edit
    the engine has not heard of, or a new thesaurus, the row is ignored until
    recomputed (`manage.py similarity_features`).
    """

    impossible = models.OneToOneField(
        "boards.Impossible", on_delete=models.CASCADE, primary_key=True, related_name="similarity_features"
    )
    version = models.CharField(max_length=40)
    statement = models.TextField()
    terms = models.JSONField()
    # Changes whenever the row is written: the engine's per-process caches
    # key on it (an integer reads much faster than a date).
    revision = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("empreinte de similarité")

    def __str__(self) -> str:
        return f"{self.impossible_id} ({self.version})"


class DismissedDuplicate(models.Model):
    """A pair of impossibles a facilitator said are « pas un doublon »: the
    console's likely duplicates leave it out. Stored once per pair, the lower
    id first."""

    atelier = models.ForeignKey("boards.Atelier", on_delete=models.CASCADE, related_name="dismissed_duplicates")
    first = models.ForeignKey("boards.Impossible", on_delete=models.CASCADE, related_name="+")
    second = models.ForeignKey("boards.Impossible", on_delete=models.CASCADE, related_name="+")
    dismissed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("paire écartée")
        verbose_name_plural = _("paires écartées")
        constraints = [
            models.UniqueConstraint(fields=["first", "second"], name="dismissed_duplicate_once"),
            models.CheckConstraint(
                condition=models.Q(first__lt=models.F("second")), name="dismissed_duplicate_ordered"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.first_id} ≠ {self.second_id}"
