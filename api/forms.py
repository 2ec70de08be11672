from django import forms
from django.contrib.auth.models import User

from api.models import WebhookEvent
from labeling.forms import ErrorTextMixin
from labeling.models import Project


class TokenForm(ErrorTextMixin, forms.Form):
    name = forms.CharField(max_length=100, help_text="What it is for, e.g. 'nightly export'.")
    project = forms.ModelChoiceField(
        queryset=Project.objects.none(),
        required=False,
        empty_label="All my projects",
        help_text="The token reaches only this project; your role there decides the rest.",
    )

    def __init__(self, *args, user: User, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        project_field = self.fields["project"]
        assert isinstance(project_field, forms.ModelChoiceField)
        project_field.queryset = Project.objects.filter(memberships__user=user)


class WebhookForm(ErrorTextMixin, forms.Form):
    url = forms.URLField(max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(
        choices=WebhookEvent.choices, widget=forms.CheckboxSelectMultiple
    )
    every_judgments = forms.IntegerField(
        min_value=1, initial=100, help_text="For “N new judgments”: N."
    )
