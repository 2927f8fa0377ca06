"""HTML forms: field widgets, labels and first-line validation. The
services re-check every rule through model validation."""

from __future__ import annotations

import secrets

from django import forms
from django.utils.translation import gettext_lazy as _

from boards.models import Atelier, Category, HelpKind, HelpOffer, Impossible, Participant, Role


def new_submission_key() -> str:
    return secrets.token_urlsafe(16)


class ParticipantForm(forms.ModelForm):
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
FORM_EXPIRED = _("Formulaire expiré : rechargez la page et réessayez.")


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


class ImpossibleForm(SubmissionKeyMixin, forms.ModelForm):
    class Meta:
        model = Impossible
        fields = ["statement", "details", "category", "anonymous"]
        labels = {
            "statement": _("Qu'est-ce qui vous semble impossible ?"),
            "details": _("Détails (facultatif)"),
            "category": _("Catégorie"),
            "anonymous": _("Publier sans afficher mon nom"),
        }
        help_texts = {
            "statement": _(
                "Une phrase courte, par exemple : « Impossible de recruter des soudeurs à moins de 50 km »."
            ),
        }
        widgets = {
            "statement": forms.Textarea(attrs={"rows": 2}),
            "details": forms.Textarea(attrs={"rows": 3}),
        }
        error_messages = {
            "statement": {"required": _("Écrivez en une phrase ce qui vous semble impossible.")},
            "category": {"required": _("Choisissez une catégorie.")},
        }

    def __init__(self, *args, categories: list[tuple[str, str]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        offered = Category.choices if categories is None else categories
        self.fields["category"].choices = [("", _("Choisissez une catégorie")), *offered]


class HelpOfferForm(SubmissionKeyMixin, forms.ModelForm):
    class Meta:
        model = HelpOffer
        fields = ["kind", "message", "contact"]
        labels = {
            "kind": _("Votre aide"),
            "message": _("Votre message"),
            "contact": _("Comment vous joindre (facultatif)"),
        }
        help_texts = {
            "contact": _("Visible uniquement par l'auteur·e de l'impossible, jamais sur le tableau."),
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


class JoinByCodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code de l'atelier"),
        max_length=20,
        widget=forms.TextInput(attrs={"autocapitalize": "characters", "autocomplete": "off", "spellcheck": "false"}),
    )


class AtelierForm(forms.ModelForm):
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
            "categories",
            "premoderation",
        ]
        labels = {
            "title": _("Titre"),
            "starts_at": _("Date et heure"),
            "venue": _("Lieu"),
            "territory": _("Territoire affiché (facultatif)"),
            "language": _("Langue de l'atelier"),
            "premoderation": _("Valider chaque impossible avant publication"),
        }
        help_texts = {
            "territory": _("Par défaut : commune, département, région."),
            "insee_code": _("Facultatif, par exemple 16102 pour Cognac."),
            "language": _("Langue du projecteur et des documents exportés."),
        }
        widgets = {"starts_at": forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["title"].initial = self.fields["title"].initial or _("Atelier de l'impossible — ")
        self.fields["starts_at"].input_formats = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%d/%m/%Y %H:%M"]
        if not self.instance.pk:
            self.initial.setdefault("categories", list(Category.values))


class TeamForm(forms.Form):
    who = forms.CharField(label=_("Nom d'utilisateur ou e-mail"), max_length=254)


class TimerForm(forms.Form):
    minutes = forms.DecimalField(label=_("Durée (minutes)"), min_value=0.2, max_value=180, decimal_places=1, initial=5)
    label = forms.CharField(label=_("Consigne affichée (facultatif)"), max_length=120, required=False)


class EditImpossibleForm(forms.ModelForm):
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
