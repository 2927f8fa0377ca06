from __future__ import annotations

import secrets

from django.core.validators import MaxLengthValidator
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

# Join codes are read aloud and typed on phones: no 0/O, 1/I/L.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6

STATEMENT_MAX = 280
DETAILS_MAX = 2000
NAME_MAX = 60
ORGANISATION_MAX = 100
OFFER_MESSAGE_MAX = 500
CONTACT_MAX = 200


def new_join_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


class Role(models.TextChoices):
    ENTREPRENEUR = "entrepreneur", _("Entrepreneur·e / dirigeant·e")
    ELECTED = "elu", _("Élu·e")
    PUBLIC_AGENT = "agent", _("Agent public")
    PEER = "pair", _("Pair (PME, association, réseau)")
    OTHER = "autre", pgettext_lazy("role", "Autre")


class Category(models.TextChoices):
    RECRUITMENT = "recrutement", _("Recrutement & compétences")
    FUNDING = "financement", _("Financement")
    REGULATION = "reglementation", _("Réglementation & démarches")
    MARKET = "marche", _("Marché & clients")
    PREMISES = "foncier", _("Foncier & locaux")
    MOBILITY = "mobilite", _("Mobilité & logement")
    ENERGY = "energie", _("Énergie & matières")
    BUSINESS_MODEL = "modele", _("Nouveau modèle économique")
    OTHER = "autre", pgettext_lazy("category", "Autre")


class HelpKind(models.TextChoices):
    INTRODUCTION = "contact", _("Je connais quelqu'un / mise en relation")
    EXPERTISE = "expertise", _("J'ai l'expertise")
    RESOURCE = "ressource", _("J'ai une ressource (locaux, matériel, financement)")
    SOLVED = "resolu", _("J'ai déjà résolu ça")
    ADMINISTRATION = "administration", _("Je peux débloquer côté administration")


class Atelier(models.Model):
    title = models.CharField(_("titre"), max_length=200)
    territory = models.CharField(_("territoire"), max_length=200, blank=True)
    venue = models.CharField(_("lieu"), max_length=200, blank=True)
    starts_at = models.DateTimeField(_("date"), null=True, blank=True)
    code = models.CharField(_("code"), max_length=12, unique=True, default=new_join_code)
    # Bumped in the same transaction as every change to the board: clients
    # compare it with the last one they applied to detect a missed update.
    version = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("atelier")
        ordering = ["-starts_at", "-id"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("boards:board", args=[self.code])


class Participant(models.Model):
    atelier = models.ForeignKey(Atelier, on_delete=models.CASCADE, related_name="participants")
    name = models.CharField(_("nom affiché"), max_length=NAME_MAX)
    organisation = models.CharField(_("organisation"), max_length=ORGANISATION_MAX, blank=True)
    role = models.CharField(_("rôle"), max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("participant·e")

    def __str__(self) -> str:
        return self.name


class Impossible(models.Model):
    atelier = models.ForeignKey(Atelier, on_delete=models.CASCADE, related_name="impossibles")
    author = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="impossibles")
    statement = models.CharField(_("ce qui semble impossible"), max_length=STATEMENT_MAX)
    details = models.TextField(
        _("détails"), max_length=DETAILS_MAX, blank=True, validators=[MaxLengthValidator(DETAILS_MAX)]
    )
    category = models.CharField(_("catégorie"), max_length=20, choices=Category.choices)
    anonymous = models.BooleanField(_("publier sans mon nom"), default=False)
    # Denormalised for ranking; kept exact by bumping it with F() in the same
    # transaction that inserts or deletes the (unique) MeToo row.
    me_too_count = models.PositiveIntegerField(default=0)
    offer_count = models.PositiveIntegerField(default=0)
    hidden = models.BooleanField(default=False)
    # A token rendered into the form: a double tap or a retried POST carries
    # the same one and lands on the existing row instead of a second one.
    submission_key = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = pgettext_lazy("model", "impossible")
        constraints = [
            models.UniqueConstraint(fields=["author", "submission_key"], name="impossible_once_per_submission"),
        ]
        indexes = [models.Index(fields=["atelier", "-created_at"]), models.Index(fields=["atelier", "-me_too_count"])]

    def __str__(self) -> str:
        return self.statement


class MeToo(models.Model):
    impossible = models.ForeignKey(Impossible, on_delete=models.CASCADE, related_name="me_toos")
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="me_toos")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("moi aussi")
        constraints = [models.UniqueConstraint(fields=["impossible", "participant"], name="one_me_too_per_participant")]

    def __str__(self) -> str:
        return f"{self.participant} → {self.impossible}"


class HelpOffer(models.Model):
    impossible = models.ForeignKey(Impossible, on_delete=models.CASCADE, related_name="offers")
    author = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="offers")
    kind = models.CharField(_("type d'aide"), max_length=20, choices=HelpKind.choices)
    message = models.CharField(_("message"), max_length=OFFER_MESSAGE_MAX)
    # Private: shown to the impossible's author only, never on the board.
    contact = models.CharField(_("comment me joindre"), max_length=CONTACT_MAX, blank=True)
    hidden = models.BooleanField(default=False)
    submission_key = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = pgettext_lazy("model", "offre d'aide")
        verbose_name_plural = pgettext_lazy("model", "offres d'aide")
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["author", "submission_key"], name="offer_once_per_submission"),
        ]

    def __str__(self) -> str:
        return self.message


class Presence(models.Model):
    """One open WebSocket. Rows of a process that died age out by `seen_at`."""

    atelier = models.ForeignKey(Atelier, on_delete=models.CASCADE, related_name="presences")
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="presences")
    channel_name = models.CharField(max_length=200, unique=True)
    seen_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["atelier", "seen_at"])]

    def __str__(self) -> str:
        return self.channel_name
