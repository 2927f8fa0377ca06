from __future__ import annotations

import datetime
import secrets
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, RegexValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from boards import phases, territories
from boards.phases import Phase

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


class Reach(models.TextChoices):
    """How far an impossible may travel beyond its room, chosen when posting."""

    ROOM = "salle", _("Dans la salle seulement")
    COUNTED = "compte", _("Compté dans l'observatoire")
    PUBLISHABLE = "publiable", _("Texte publiable")


class ActionStatus(models.TextChoices):
    TODO = "a_lancer", _("À lancer")
    IN_PROGRESS = "en_cours", _("En cours")
    DONE = "fait", _("Fait")
    ABANDONED = "abandonne", _("Abandonné")


# Ateliers run in metropolitan France and overseas: each is shown, and its
# plan exported, in its own time zone.
TIME_ZONES = [
    ("Europe/Paris", _("France métropolitaine, Corse")),
    ("America/Guadeloupe", _("Guadeloupe, Saint-Martin, Saint-Barthélemy")),
    ("America/Martinique", _("Martinique")),
    ("America/Cayenne", _("Guyane")),
    ("Indian/Reunion", _("La Réunion")),
    ("Indian/Mayotte", _("Mayotte")),
    ("America/Miquelon", _("Saint-Pierre-et-Miquelon")),
    ("Pacific/Noumea", _("Nouvelle-Calédonie")),
    ("Pacific/Tahiti", _("Polynésie française (Tahiti)")),
    ("Pacific/Wallis", _("Wallis-et-Futuna")),
    ("Europe/Brussels", _("Belgique")),
    ("Europe/Luxembourg", _("Luxembourg")),
    ("Europe/Zurich", _("Suisse")),
    ("America/Montreal", _("Québec")),
    ("UTC", "UTC"),
]
TITLE_MAX = 200
NEXT_STEP_MAX = 500


def all_categories() -> list[str]:
    return list(Category.values)


def default_time_zone() -> str:
    return settings.TIME_ZONE


def new_token() -> str:
    # Share and follow-up links: 32 random bytes, unguessable.
    return secrets.token_urlsafe(32)


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("Fuseau horaire inconnu."))


def validate_insee_code(value: str) -> None:
    # A malformed code gets the format's own message (the RegexValidator);
    # a well-formed one must be in the COG shipped with the app.
    if territories.INSEE_CODE_RE.match(value) and territories.resolve(value) is None:
        raise ValidationError(
            _(
                "Code INSEE inconnu du Code officiel géographique %(year)s : indiquez le code de la commune "
                "(16102 pour Cognac), pas son code postal."
            ),
            code="unknown",
            params={"year": territories.source()["cog"]},
        )


class Atelier(models.Model):
    title = models.CharField(_("titre"), max_length=200)
    # The line shown under the title; built from the fields below when left blank.
    territory = models.CharField(_("territoire affiché"), max_length=200, blank=True)
    commune = models.CharField(_("commune"), max_length=100, blank=True)
    departement = models.CharField(_("département"), max_length=100, blank=True)
    region = models.CharField(_("région"), max_length=100, blank=True)
    insee_code = models.CharField(
        _("code INSEE"),
        max_length=5,
        blank=True,
        validators=[
            RegexValidator(territories.INSEE_CODE_RE, _("Un code INSEE a cinq caractères, par exemple 16102.")),
            validate_insee_code,
        ],
    )
    # Derived from insee_code with the COG (boards.territories) whenever it is
    # saved, so that ateliers can be grouped by territory in SQL: the current
    # commune (a merged commune's old code gives the new one), its EPCI,
    # département and région. Blank without an INSEE code.
    commune_code = models.CharField(_("code de la commune actuelle"), max_length=5, blank=True, editable=False)
    epci_code = models.CharField(_("code de l'EPCI"), max_length=9, blank=True, editable=False)
    departement_code = models.CharField(_("code du département"), max_length=3, blank=True, editable=False)
    region_code = models.CharField(_("code de la région"), max_length=3, blank=True, editable=False)
    venue = models.CharField(_("lieu"), max_length=200, blank=True)
    starts_at = models.DateTimeField(_("date et heure"), null=True, blank=True)
    language = models.CharField(_("langue"), max_length=5, choices=settings.LANGUAGES, default="fr")
    time_zone = models.CharField(
        _("fuseau horaire"), max_length=64, default=default_time_zone, validators=[validate_time_zone]
    )
    categories = models.JSONField(_("catégories proposées"), default=all_categories)
    code = models.CharField(_("code"), max_length=12, unique=True, default=new_join_code)
    facilitators = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="facilitated_ateliers", blank=True, verbose_name=_("animation")
    )
    # An atelier nobody runs is an open board; the facilitators' form starts
    # new ateliers in the welcome phase.
    phase = models.CharField(_("phase"), max_length=20, choices=Phase.choices, default=Phase.IMPOSSIBLES)
    locked = models.BooleanField(_("tableau verrouillé"), default=False)
    premoderation = models.BooleanField(_("modération avant publication"), default=False)
    spotlight = models.ForeignKey(
        "Impossible", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("à l'écran")
    )
    timer_label = models.CharField(_("minuteur"), max_length=120, blank=True)
    # Running: ends at timer_ends_at. Paused: timer_remaining is left.
    timer_ends_at = models.DateTimeField(null=True, blank=True)
    timer_remaining = models.DurationField(null=True, blank=True)
    # When the atelier last moved to the closed phase: contacts shared in
    # offers are purged a while after (manage.py purge_contacts).
    closed_at = models.DateTimeField(null=True, blank=True)
    # Plan phase: may an impossible's author turn it into actions themselves?
    authors_can_plan = models.BooleanField(_("les auteurs peuvent créer des actions"), default=False)
    # The plan's public, read-only link; None when not published (or revoked).
    share_token = models.CharField(max_length=64, unique=True, null=True, blank=True)
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

    @property
    def can(self) -> dict[str, bool]:
        return phases.capabilities(self.phase, self.locked)

    @property
    def closed_reasons(self) -> list[str]:
        return phases.closed_reasons(self.phase, self.locked)

    @property
    def invitation(self) -> str:
        return str(phases.INVITATION[self.phase])

    @property
    def timer_running(self) -> bool:
        return self.timer_ends_at is not None

    @property
    def timer_paused(self) -> bool:
        return self.timer_remaining is not None

    @property
    def timer_seconds_left(self) -> int:
        if self.timer_ends_at is not None:
            return max(0, int((self.timer_ends_at - timezone.now()).total_seconds()))
        if self.timer_remaining is not None:
            return int(self.timer_remaining.total_seconds())
        return 0

    def is_facilitated_by(self, user) -> bool:
        return bool(user and user.is_authenticated) and self.facilitators.filter(pk=user.pk).exists()

    def offered_categories(self) -> list[tuple[str, str]]:
        return [(value, label) for value, label in Category.choices if value in self.categories]


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


class ImpossibleQuerySet(models.QuerySet):
    def visible(self) -> ImpossibleQuerySet:
        """On the board: not hidden, not merged away, not waiting for moderation."""
        return self.filter(hidden=False, pending=False)


class Impossible(models.Model):
    atelier = models.ForeignKey(Atelier, on_delete=models.CASCADE, related_name="impossibles")
    author = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="impossibles")
    statement = models.CharField(_("ce qui semble impossible"), max_length=STATEMENT_MAX)
    details = models.TextField(
        _("détails"), max_length=DETAILS_MAX, blank=True, validators=[MaxLengthValidator(DETAILS_MAX)]
    )
    category = models.CharField(_("catégorie"), max_length=20, choices=Category.choices)
    anonymous = models.BooleanField(_("publier sans mon nom"), default=False)
    # The observatoire counts an impossible unless it stays in the room, and
    # shows its words publicly only when publishable (never its author's name).
    reach = models.CharField(_("portée"), max_length=12, choices=Reach.choices, default=Reach.COUNTED)
    # The observatoire's theme, across ateliers; the atelier's board ignores it.
    theme = models.ForeignKey(
        "boards.Theme",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="impossibles",
        verbose_name=_("thème"),
    )
    # Set once a curator placed or detached it: suggestions leave it alone.
    theme_curated = models.BooleanField(default=False)
    # Denormalised for ranking; kept exact by bumping it with F() in the same
    # transaction that inserts or deletes the (unique) MeToo row.
    me_too_count = models.PositiveIntegerField(default=0)
    offer_count = models.PositiveIntegerField(default=0)
    hidden = models.BooleanField(default=False)
    # Pre-moderation: waits in the facilitators' queue until approved.
    pending = models.BooleanField(default=False)
    merged_into = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="merged", verbose_name=_("fusionné dans")
    )
    # A token rendered into the form: a double tap or a retried POST carries
    # the same one and lands on the existing row instead of a second one.
    submission_key = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ImpossibleQuerySet.as_manager()

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
    # Private: shown to the impossible's author and the facilitators, never on
    # the board or the published plan; to the pilot of an action that retains
    # this offer only if the helper said so (the follow-up link is forwardable).
    contact = models.CharField(_("comment me joindre"), max_length=CONTACT_MAX, blank=True)
    contact_for_pilots = models.BooleanField(_("contact montré au ou à la pilote"), default=False)
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


class Precision(models.Model):
    """Details a participant adds to an impossible they said was theirs too
    (« Ça ressemble à… » → « Moi aussi, c'est le même »), instead of posting
    a duplicate. Shown on the card as typed; facilitators can hide one, like
    an offer of help."""

    impossible = models.ForeignKey(Impossible, on_delete=models.CASCADE, related_name="precisions")
    author = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="precisions")
    text = models.TextField(_("précision"), max_length=DETAILS_MAX, validators=[MaxLengthValidator(DETAILS_MAX)])
    anonymous = models.BooleanField(_("sans mon nom"), default=False)
    hidden = models.BooleanField(default=False)
    # The key of the post it replaces: a double tap adds it once.
    submission_key = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("précision")
        verbose_name_plural = _("précisions")
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["author", "submission_key"], name="precision_once_per_submission"),
        ]

    def __str__(self) -> str:
        return self.text


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


class Pilot(models.Model):
    """Who leads one or more actions: a participant of the atelier or someone
    named by the room (a mayor's office, an agency). Holds the personal
    follow-up link, which needs no account."""

    atelier = models.ForeignKey(Atelier, on_delete=models.CASCADE, related_name="pilots")
    # Kept on the plan (under the name copied here) if the participant goes.
    participant = models.ForeignKey(
        Participant, on_delete=models.SET_NULL, null=True, blank=True, related_name="pilot_roles"
    )
    name = models.CharField(_("nom"), max_length=NAME_MAX)
    organisation = models.CharField(_("organisation"), max_length=ORGANISATION_MAX, blank=True)
    token = models.CharField(max_length=64, unique=True, default=new_token)
    # The day a facilitator last renewed the link: with PILOT_LINK_DAYS set,
    # the link lasts that many days after this or the actions' due dates.
    link_renewed_on = models.DateField(null=True, blank=True)
    # The pilot's own consent, given on their follow-up page: the observatoire's
    # « levé ailleurs » shows their organisation (never their name) only then.
    show_organisation = models.BooleanField(_("organisation montrée dans l'observatoire"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("pilote")
        constraints = [
            models.UniqueConstraint(
                fields=["atelier", "participant"],
                condition=models.Q(participant__isnull=False),
                name="one_pilot_per_participant",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        # A participant who renames themselves is renamed in the plan too.
        return self.participant.name if self.participant_id else self.name

    @property
    def display_organisation(self) -> str:
        return self.participant.organisation if self.participant_id else self.organisation

    def link_expires_on(self, latest_due: datetime.date | object | None = ...) -> datetime.date | None:
        """The last day the follow-up link works: PILOT_LINK_DAYS after the
        latest of the pilot's due dates, the atelier's day and the link's
        last renewal. None when links never expire (the setting unset).
        `latest_due`: the latest due date, when the caller already has it."""
        days = settings.PILOT_LINK_DAYS
        if not days:
            return None
        if latest_due is ...:
            latest_due = self.actions.aggregate(latest=models.Max("due_on"))["latest"]
        atelier = self.atelier
        moment = atelier.starts_at or atelier.created_at or timezone.now()
        atelier_day = timezone.localtime(moment, zoneinfo.ZoneInfo(atelier.time_zone)).date()
        start = max(day for day in (latest_due, self.link_renewed_on, atelier_day) if day is not None)
        return start + datetime.timedelta(days=days)

    def link_expired(self) -> bool:
        expires = self.link_expires_on()
        return expires is not None and timezone.localdate(timezone=zoneinfo.ZoneInfo(self.atelier.time_zone)) > expires


class PlanAction(models.Model):
    """One line of the local action plan: what will be done about an
    impossible, by whom, with whose help, by when."""

    atelier = models.ForeignKey(Atelier, on_delete=models.CASCADE, related_name="actions")
    impossible = models.ForeignKey(Impossible, on_delete=models.CASCADE, related_name="actions")
    title = models.CharField(_("action"), max_length=TITLE_MAX)
    pilot = models.ForeignKey(Pilot, on_delete=models.CASCADE, related_name="actions", verbose_name=_("pilote"))
    # Helpers are the authors of the help offers accepted for this action.
    accepted_offers = models.ManyToManyField(
        HelpOffer, related_name="actions", blank=True, verbose_name=_("offres d'aide retenues")
    )
    next_step = models.TextField(
        _("prochaine étape"), max_length=NEXT_STEP_MAX, blank=True, validators=[MaxLengthValidator(NEXT_STEP_MAX)]
    )
    due_on = models.DateField(_("échéance"), null=True, blank=True)
    status = models.CharField(_("statut"), max_length=20, choices=ActionStatus.choices, default=ActionStatus.TODO)
    submission_key = models.CharField(max_length=64)
    # « Où en est-on ? »: the open action of an earlier atelier of the same
    # territory this one carries on (imported with its history).
    continues = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="continued_by",
        verbose_name=_("suite de"),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("action")
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["atelier", "submission_key"], name="action_once_per_submission"),
        ]

    def __str__(self) -> str:
        return self.title

    def is_overdue(self, today=None) -> bool:
        today = today or timezone.localdate()
        return (
            self.due_on is not None
            and self.due_on < today
            and self.status in (ActionStatus.TODO, ActionStatus.IN_PROGRESS)
        )


class ActionChange(models.Model):
    """The dated history of an action: who changed what, when."""

    class By(models.TextChoices):
        FACILITATOR = "animation", _("animation")
        AUTHOR = "auteur", _("auteur·e de l'impossible")
        PILOT = "pilote", _("pilote")

    action = models.ForeignKey(PlanAction, on_delete=models.CASCADE, related_name="changes")
    at = models.DateTimeField(default=timezone.now)
    by_kind = models.CharField(max_length=20, choices=By.choices)
    by_name = models.CharField(max_length=150)
    # [{"field": "status", "old": "a_lancer", "new": "en_cours"}, ...];
    # empty for the creation.
    changes = models.JSONField(default=list)
    created = models.BooleanField(default=False)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} ({self.at:%Y-%m-%d %H:%M})"

    FIELD_LABELS = {
        "title": _("action"),
        "pilot": _("pilote"),
        "helpers": _("aides retenues"),
        "next_step": _("prochaine étape"),
        "due_on": _("échéance"),
        "status": _("statut"),
        "atelier": _("atelier"),
    }

    def lines(self) -> list[dict[str, str]]:
        """The changes as shown to people: {"field", "old", "new"}, in the
        active language (labels, dates)."""
        return [
            {
                "field": str(self.FIELD_LABELS.get(change["field"], change["field"])),
                "old": _display_value(change["field"], change.get("old")),
                "new": _display_value(change["field"], change.get("new")),
            }
            for change in self.changes
        ]


def _display_value(field: str, value) -> str:
    from django.utils.formats import date_format

    if value in (None, "", []):
        return "—"
    if field == "status":
        return str(ActionStatus(value).label) if value in ActionStatus.values else str(value)
    if field == "due_on":
        try:
            return date_format(datetime.date.fromisoformat(value), "DATE_FORMAT")
        except (TypeError, ValueError):
            return str(value)
    if field == "helpers" and isinstance(value, list):
        return ", ".join(str(name) for name in value)
    return str(value)


class Invitation(models.Model):
    """A facilitator's invitation to co-run an atelier, by user name or
    e-mail, as typed. Nothing tells the inviter whether an account matches:
    the person whose user name or e-mail it is sees it in « Mes ateliers »
    and accepts it (or not)."""

    atelier = models.ForeignKey(Atelier, on_delete=models.CASCADE, related_name="invitations")
    who = models.CharField(_("nom d'utilisateur ou e-mail"), max_length=254)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("invitation à co-animer")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.who} → {self.atelier}"


# The similarity engine's and the observatoire's tables live with their code;
# Django finds them here.
from boards.observatoire.models import Figure, FigureRun, Theme  # noqa: E402, F401
from boards.similarity.models import DismissedDuplicate, ImpossibleFeatures  # noqa: E402, F401
