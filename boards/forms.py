"""HTML forms: field widgets, labels and first-line validation. The
services re-check every rule through model validation."""

from __future__ import annotations

import datetime
import hashlib
import re
import secrets
import zoneinfo

from django import forms
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

from boards import territories
from boards.models import (
    DETAILS_MAX,
    NAME_MAX,
    NEXT_STEP_MAX,
    ORGANISATION_MAX,
    TIME_ZONES,
    TITLE_MAX,
    ActionStatus,
    Atelier,
    Category,
    HelpKind,
    HelpOffer,
    Impossible,
    Participant,
    Reach,
    Role,
    Theme,
    validate_time_zone,
)
from boards.observatoire.figures import quarter_label


def new_submission_key() -> str:
    return secrets.token_urlsafe(16)


# A title or a name on two lines breaks the one-line formats it is written
# into (iCalendar, CSV readers, e-mail headers) and the pages' layout. Other
# separators (U+2028, vertical tab...) are kept as typed: every format and
# page shows them safely (tests/test_hostile_text.py).
LINE_BREAK = re.compile(r"[\r\n]")
ONE_LINE = _("Écrivez ce texte sur une seule ligne, sans retour à la ligne.")


def single_line(value: str) -> None:
    if LINE_BREAK.search(value or ""):
        raise ValidationError(ONE_LINE, code="line_break")


class SingleLineMixin:
    """Every text field of the form is one line, but those named in
    `multiline` (details, messages, next steps). Choices and hidden keys
    are checked otherwise."""

    multiline: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if not isinstance(field, forms.CharField) or name in self.multiline:
                continue
            if isinstance(field.widget, (forms.HiddenInput, forms.Select, forms.RadioSelect)):
                continue
            field.validators.append(single_line)


class ParticipantForm(SingleLineMixin, forms.ModelForm):
    class Meta:
        model = Participant
        fields = ["name", "organisation", "role"]
        labels = {
            "name": _("Votre nom (tel qu'il apparaîtra)"),
            "organisation": _("Organisation (facultatif)"),
            "role": _("Vous êtes"),
        }
        widgets = {
            "name": forms.TextInput(attrs={"autocomplete": "name", "autofocus": True}),
            "organisation": forms.TextInput(attrs={"autocomplete": "organization"}),
            "role": forms.RadioSelect,
        }
        error_messages = {
            "name": {"required": _("Indiquez le nom que les autres verront.")},
            "role": {"required": _("Choisissez ce qui vous décrit le mieux.")},
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = Role.choices  # radios need no empty choice


# The key is a hidden field: "this field is required" would point at nothing
# the visitor can see. Same wording as the service's own check.
FORM_EXPIRED = _("Formulaire expiré : rechargez la page et réessayez.")


class SubmissionKeyMixin(forms.Form):
    submission_key = forms.CharField(
        widget=forms.HiddenInput,
        max_length=64,
        error_messages={"required": FORM_EXPIRED, "max_length": FORM_EXPIRED},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("submission_key", new_submission_key())


class ImpossibleForm(SingleLineMixin, SubmissionKeyMixin, forms.ModelForm):
    multiline = ("details",)

    class Meta:
        model = Impossible
        fields = ["statement", "details", "category", "anonymous", "reach"]
        labels = {
            "statement": _("Qu'est-ce qui vous semble impossible ?"),
            "details": _("Détails (facultatif)"),
            "category": _("Catégorie"),
            "anonymous": _("Publier sans afficher mon nom"),
            "reach": _("Jusqu'où peut-il aller ?"),
        }
        help_texts = {
            "statement": _(
                "Une phrase courte, par exemple : « Impossible de recruter des soudeurs à moins de 50 km »."
            ),
            "reach": _(
                "L'observatoire national compte les impossibles sans jamais publier de nom ; "
                "seul un texte publiable peut y être cité."
            ),
        }
        widgets = {
            "statement": forms.Textarea(attrs={"rows": 2}),
            "details": forms.Textarea(attrs={"rows": 3}),
            "reach": forms.RadioSelect,
        }
        error_messages = {
            "statement": {"required": _("Écrivez en une phrase ce qui vous semble impossible.")},
            "category": {"required": _("Choisissez une catégorie.")},
        }

    def __init__(self, *args, categories: list[tuple[str, str]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        offered = Category.choices if categories is None else categories
        self.fields["category"].choices = [("", _("Choisissez une catégorie")), *offered]
        # A form posted without the choice (an older page) keeps the default.
        self.fields["reach"].required = False

    def clean_reach(self) -> str:
        return self.cleaned_data.get("reach") or Reach.COUNTED


class SameImpossibleForm(SubmissionKeyMixin, forms.Form):
    """« Moi aussi, c'est le même »: the details the participant wrote for the
    post they give up, and whether to add them to the existing card."""

    details = forms.CharField(required=False, max_length=DETAILS_MAX, widget=forms.HiddenInput)
    anonymous = forms.BooleanField(required=False, widget=forms.HiddenInput)
    add_details = forms.BooleanField(required=False, label=_("Ajouter aussi mes détails à cette carte"))


class HelpOfferForm(SingleLineMixin, SubmissionKeyMixin, forms.ModelForm):
    multiline = ("message",)

    class Meta:
        model = HelpOffer
        fields = ["kind", "message", "contact", "contact_for_pilots"]
        labels = {
            "kind": _("Votre aide"),
            "message": _("Votre message"),
            "contact": _("Comment vous joindre (facultatif)"),
            "contact_for_pilots": _(
                "Si une action retient mon aide, son ou sa pilote peut aussi voir ce contact "
                "(sur son lien de suivi personnel)"
            ),
        }
        help_texts = {
            "contact": _(
                "Visible par l'auteur·e de l'impossible et l'équipe d'animation, "
                "jamais sur le tableau ni sur le plan publié."
            ),
        }
        widgets = {
            "kind": forms.RadioSelect,
            "message": forms.Textarea(attrs={"rows": 2}),
        }
        error_messages = {
            "kind": {"required": _("Choisissez le type d'aide que vous proposez.")},
            "message": {"required": _("Dites en quelques mots comment vous pouvez aider.")},
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = HelpKind.choices


class JoinByCodeForm(SingleLineMixin, forms.Form):
    code = forms.CharField(
        label=_("Code de l'atelier"),
        max_length=20,
        widget=forms.TextInput(attrs={"autocapitalize": "characters", "autocomplete": "off", "spellcheck": "false"}),
    )


class AtelierForm(SingleLineMixin, forms.ModelForm):
    categories = forms.MultipleChoiceField(
        label=_("Catégories proposées"),
        choices=Category.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Les participant·es choisissent parmi celles-ci."),
    )

    class Meta:
        model = Atelier
        fields = [
            "title",
            "starts_at",
            "venue",
            "commune",
            "departement",
            "region",
            "insee_code",
            "territory",
            "language",
            "time_zone",
            "categories",
            "premoderation",
        ]
        labels = {
            "title": _("Titre"),
            "starts_at": _("Date et heure"),
            "venue": _("Lieu"),
            "territory": _("Territoire affiché (facultatif)"),
            "language": _("Langue de l'atelier"),
            "time_zone": _("Fuseau horaire"),
            "premoderation": _("Valider chaque impossible avant publication"),
        }
        help_texts = {
            "territory": _("Par défaut : commune, département, région."),
            "insee_code": _(
                "Facultatif : le code de la commune, par exemple 16102 pour Cognac (pas son code postal). "
                "La commune, le département et la région laissés vides en sont déduits."
            ),
            "language": _("Langue du projecteur et des documents exportés."),
        }
        widgets = {
            "starts_at": forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
            "time_zone": forms.Select(choices=TIME_ZONES),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["title"].initial = self.fields["title"].initial or _("Atelier de l'impossible — ")
        self.fields["time_zone"].required = False
        self.fields["starts_at"].input_formats = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%d/%m/%Y %H:%M"]
        if not self.instance.pk:
            self.initial.setdefault("categories", list(Category.values))
        elif self.instance.starts_at and not self.is_bound:
            # Shown as the wall-clock time of the atelier's own time zone.
            zone = zoneinfo.ZoneInfo(self.instance.time_zone)
            self.initial["starts_at"] = timezone.localtime(self.instance.starts_at, zone).replace(tzinfo=None)

    def clean_insee_code(self) -> str:
        # "2a004 " is Ajaccio too; the model then checks the code is known.
        return territories.normalise(self.cleaned_data.get("insee_code"))

    def clean_time_zone(self) -> str:
        # Left out (older forms, scripts): the server's default zone.
        zone = self.cleaned_data.get("time_zone") or settings.TIME_ZONE
        # Checked here, not only by the model: clean() reads the zone first.
        validate_time_zone(zone)
        return zone

    def clean(self):
        data = super().clean()
        starts_at, zone = data.get("starts_at"), data.get("time_zone")
        if starts_at and not datetime.MINYEAR < starts_at.year < datetime.MAXYEAR:
            # Years 1 and 9999 leave Python's range once moved to UTC for storage.
            self.add_error("starts_at", _("Date invalide : indiquez une date comme 31/03/2027."))
            return data
        if starts_at and zone:
            # The date typed is a wall-clock time where the atelier happens,
            # not where the server or the facilitator is.
            naive = timezone.make_naive(starts_at)
            data["starts_at"] = timezone.make_aware(naive, zoneinfo.ZoneInfo(zone))
        return data


class TeamForm(SingleLineMixin, forms.Form):
    who = forms.CharField(
        label=_("Nom d'utilisateur ou e-mail"),
        max_length=254,
        error_messages={"required": _("Indiquez un nom d'utilisateur ou un e-mail.")},
    )


class TimerForm(SingleLineMixin, forms.Form):
    minutes = forms.DecimalField(label=_("Durée (minutes)"), min_value=0.2, max_value=180, decimal_places=1, initial=5)
    label = forms.CharField(label=_("Consigne affichée (facultatif)"), max_length=120, required=False)


class EditImpossibleForm(SingleLineMixin, forms.ModelForm):
    multiline = ("details",)

    class Meta:
        model = Impossible
        fields = ["statement", "details", "category"]
        labels = ImpossibleForm.Meta.labels
        widgets = ImpossibleForm.Meta.widgets
        error_messages = ImpossibleForm.Meta.error_messages

    def __init__(self, *args, categories: list[tuple[str, str]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if categories is not None:
            self.fields["category"].choices = categories


class ActionForm(SingleLineMixin, SubmissionKeyMixin, forms.Form):
    """An action of the plan. The pilot is a participant picked in the list,
    or a name typed in when the person is not in the room's list."""

    OTHER = ""
    multiline = ("next_step",)

    title = forms.CharField(
        label=_("Action"),
        max_length=TITLE_MAX,
        help_text=_("Ce qui va être fait, par exemple : « Réunir les trois soudeurs retraités du bassin »."),
        error_messages={"required": _("Donnez un titre à l'action.")},
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    pilot_participant = forms.TypedChoiceField(label=_("Pilote"), required=False, coerce=int, empty_value=None)
    pilot_name = forms.CharField(label=_("… ou nom du ou de la pilote"), max_length=NAME_MAX, required=False)
    pilot_organisation = forms.CharField(
        label=_("Organisation du ou de la pilote"), max_length=ORGANISATION_MAX, required=False
    )
    helpers = forms.TypedMultipleChoiceField(
        label=_("Aides retenues"),
        required=False,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Les personnes dont l'offre est retenue deviennent aidant·es de l'action."),
    )
    next_step = forms.CharField(
        label=_("Prochaine étape"), max_length=NEXT_STEP_MAX, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    due_on = forms.DateField(
        label=_("Échéance"),
        required=False,
        input_formats=["%Y-%m-%d", "%d/%m/%Y"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": _("Date invalide : indiquez une date comme 31/03/2027.")},
    )
    status = forms.ChoiceField(label=_("Statut"), choices=ActionStatus.choices, initial=ActionStatus.TODO)

    def __init__(self, *args, participants=(), offers=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["pilot_participant"].choices = [
            (self.OTHER, _("Quelqu'un qui n'est pas dans la liste (nom ci-dessous)")),
            *[(p.pk, f"{p.name} · {p.organisation}" if p.organisation else p.name) for p in participants],
        ]
        self.fields["helpers"].choices = [
            (offer.pk, f"{offer.author.name} — {offer.get_kind_display()} : {offer.message}") for offer in offers
        ]

    def clean(self):
        data = super().clean()
        if data.get("pilot_participant") is None and not (data.get("pilot_name") or "").strip():
            self.add_error("pilot_name", _("Indiquez qui pilote l'action : un participant ou un nom."))
        return data

    def action_fields(self) -> dict:
        """What the services take, from the cleaned data."""
        from boards.services.plan import PilotChoice

        data = self.cleaned_data
        pilot = (
            PilotChoice(participant_id=data["pilot_participant"])
            if data.get("pilot_participant") is not None
            else PilotChoice(name=data["pilot_name"], organisation=data["pilot_organisation"])
        )
        return {
            "title": data["title"],
            "pilot": pilot,
            "helpers": data["helpers"],
            "next_step": data["next_step"],
            "due_on": data["due_on"],
            "status": data["status"],
        }

    @classmethod
    def initial_for(cls, action) -> dict:
        pilot = action.pilot
        return {
            "title": action.title,
            "pilot_participant": pilot.participant_id or cls.OTHER,
            "pilot_name": "" if pilot.participant_id else pilot.name,
            "pilot_organisation": "" if pilot.participant_id else pilot.organisation,
            "helpers": [offer.pk for offer in action.accepted_offers.all()],
            "next_step": action.next_step,
            "due_on": action.due_on,
            "status": action.status,
        }


class ThemeNameForm(SingleLineMixin, forms.Form):
    name = forms.CharField(label=_("Nom du thème"), max_length=200)


class ThemeMergeForm(forms.Form):
    def __init__(self, *args, theme, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target"] = forms.ModelChoiceField(
            label=_("Fusionner dans"),
            queryset=Theme.objects.exclude(pk=theme.pk),
            empty_label=_("Choisissez un thème"),
        )


class ThemeSplitForm(SingleLineMixin, forms.Form):
    name = forms.CharField(label=_("Nom du nouveau thème"), max_length=200)

    def __init__(self, *args, theme, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["impossibles"] = forms.ModelMultipleChoiceField(
            label=_("Impossibles à déplacer"),
            queryset=theme.impossibles.all(),
            widget=forms.CheckboxSelectMultiple,
        )


class ObservatoireFilterForm(forms.Form):
    """The public observatoire's filters: a GET form, every field optional;
    a value that is not offered is ignored rather than refused."""

    quarter = forms.ChoiceField(label=_("Trimestre"), required=False)
    region = forms.ChoiceField(label=_("Région"), required=False)
    departement = forms.ChoiceField(label=_("Département"), required=False)
    category = forms.ChoiceField(label=_("Catégorie"), required=False)
    role = forms.ChoiceField(label=_("Qui a posté"), required=False)
    status = forms.ChoiceField(label=_("Actions"), required=False)

    def __init__(self, *args, quarters: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        every = [("", _("Tous"))]
        self.fields["quarter"].choices = every + [(q, quarter_label(q)) for q in quarters]
        self.fields["region"].choices = [("", _("Toutes"))] + [(r.code, r.name) for r in territories.regions()]
        self.fields["departement"].choices = every + [
            (d.code, f"{d.code} {d.name}") for d in territories.departements()
        ]
        self.fields["category"].choices = [("", _("Toutes")), *Category.choices]
        self.fields["role"].choices = every + list(Role.choices)
        self.fields["status"].choices = [
            ("", _("Tous les thèmes")),
            ("sans-action", _("Sans action")),
            ("avec-action", _("Avec au moins une action")),
            ("levee", _("Avec au moins une action faite")),
        ]

    def values(self) -> dict[str, str]:
        """The valid values given, by field name; "" for the others."""
        self.is_valid()
        cleaned = getattr(self, "cleaned_data", {})
        return {name: cleaned.get(name) or "" for name in self.fields}


# --- Drawing fields -------------------------------------------------------------------------

# How long a drawn form stays in the process's cache (CACHES["default"]);
# its key holds everything the drawing depends on, so it is never stale.
FIELDS_CACHE_SECONDS = 3600


def render_fields(form: forms.BaseForm, names: tuple[str, ...]) -> SafeString:
    """The named fields of `form`, each drawn by boards/_field.html.

    Django draws a widget through several templates, which made up a third
    of what the join and board pages cost a room joining at once. A form
    nobody has filled in yet (unbound) draws the same for everyone who reads
    the same language, so it is drawn once per process, under a key made of
    everything the drawing reads: the form, the language, and each field's
    value, choices, label, help text, widget attributes and requirement. A
    bound form (errors, what was typed) is drawn each time."""
    if form.is_bound:
        return _draw_fields(form, names)
    key = f"fields:{_fields_fingerprint(form, names)}"
    html = cache.get_or_set(key, lambda: _draw_fields(form, names), FIELDS_CACHE_SECONDS)
    return mark_safe(html)  # drawn, and escaped, by the template


def _draw_fields(form: forms.BaseForm, names: tuple[str, ...]) -> SafeString:
    return mark_safe("".join(render_to_string("boards/_field.html", {"field": form[name]}) for name in names))


def _fields_fingerprint(form: forms.BaseForm, names: tuple[str, ...]) -> str:
    # The form's own class, also through a lazy object (SimpleLazyObject proxies __class__).
    parts: list[object] = [form.__class__.__module__, form.__class__.__qualname__, translation.get_language()]
    parts += [form.auto_id, form.prefix]
    for name in names:
        bound = form[name]
        field = bound.field
        choices = getattr(field, "choices", None)
        parts += [
            name,
            bound.value(),
            str(bound.label),
            str(field.help_text),
            field.required,
            field.disabled,
            type(field.widget).__qualname__,
            sorted((key, str(value)) for key, value in field.widget.attrs.items()),
            [(value, str(label)) for value, label in choices] if choices is not None else None,
        ]
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()
