"""What the observatoire keeps in the database (imported by boards.models)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

# Imported at the end of boards.models, once Category is defined there.
from boards.models import Category

CURATE_PERMISSION = "boards.curate_themes"
CURATORS_GROUP = "observatoire"


class Theme(models.Model):
    """Similar impossibles from different ateliers, under one name. Suggested
    by `manage.py observatoire_themes`, accepted (and renamed, merged, split)
    by the observatoire team; only accepted themes are shown publicly."""

    class Status(models.TextChoices):
        SUGGESTED = "suggere", _("Suggéré")
        ACCEPTED = "accepte", _("Accepté")

    name = models.CharField(_("nom"), max_length=200)
    slug = models.SlugField(_("adresse"), max_length=80, unique=True)
    category = models.CharField(_("catégorie"), max_length=20, choices=Category.choices)
    status = models.CharField(_("statut"), max_length=10, choices=Status.choices, default=Status.SUGGESTED)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("thème")
        ordering = ["name", "id"]
        permissions = [("curate_themes", _("Peut organiser les thèmes de l'observatoire"))]

    def __str__(self) -> str:
        return self.name

    @property
    def accepted(self) -> bool:
        return self.status == self.Status.ACCEPTED


class Level(models.TextChoices):
    """How fine a published figure is: a cell too small to be shown at the
    département is added to its région's remainder, then the nation's."""

    DEPARTEMENT = "departement", _("département")
    REGION = "region", _("région")
    NATIONAL = "national", _("national")


class Figure(models.Model):
    """One published cell: a quarter, a territory, a category, a theme (None:
    impossibles without an accepted theme) and the posters' role ("" for all
    roles). Only cells that pass the statistical secrecy are stored."""

    quarter = models.CharField(max_length=7)  # "2026-T4"
    level = models.CharField(max_length=12, choices=Level.choices)
    departement_code = models.CharField(max_length=3, blank=True)  # blank above the département
    region_code = models.CharField(max_length=3, blank=True)  # blank at the national level
    category = models.CharField(max_length=20)
    theme = models.ForeignKey(Theme, on_delete=models.CASCADE, null=True, blank=True, related_name="figures")
    role = models.CharField(max_length=20, blank=True)
    ateliers = models.PositiveIntegerField(default=0)
    impossibles = models.PositiveIntegerField(default=0)
    impossibles_with_action = models.PositiveIntegerField(default=0)
    me_toos = models.PositiveIntegerField(default=0)
    offers = models.PositiveIntegerField(default=0)
    actions = models.PositiveIntegerField(default=0)
    actions_done = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("chiffre de l'observatoire")
        verbose_name_plural = _("chiffres de l'observatoire")
        indexes = [
            models.Index(fields=["role", "quarter"]),
            models.Index(fields=["role", "departement_code"]),
            models.Index(fields=["role", "region_code"]),
            models.Index(fields=["role", "theme"]),
        ]

    def __str__(self) -> str:
        return f"{self.quarter} {self.level} {self.departement_code or self.region_code or 'FR'} {self.category}"


class FigureRun(models.Model):
    """The one row that says when the figures were last computed; its lock
    keeps two runs of the command from interleaving."""

    computed_at = models.DateTimeField(null=True, blank=True)
    rows = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return str(self.computed_at)
