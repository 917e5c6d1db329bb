"""Forms of the model registry pages: registering a version, starting an offline evaluation. They
parse input only; evaluation.services and evaluation.offline decide the rest."""
from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from evaluation.models import ModelKind
from evaluation.offline import OFFLINE_PARAMETERS
from labeling.parsers import JSON_TOO_DEEP, JsonTooDeep, json_loads_bounded, json_max_depth

MODEL_CONFIG_NOT_JSON = "The config is not valid JSON: {reason}."
MODEL_CONFIG_NOT_OBJECT = "The config must be a JSON object, such as {\"score_threshold\": 0.6}."
PARAMETER_LABELS = {"seed": "World seed", "n_products": "Catalogue products", "val_scenes": "Validation scenes",
                    "test_scenes": "Test scenes", "single_products": "Single products", "query_scenes": "Query scenes", "distractors": "Distractor products",
                    "k_max": "Longest top-K"}


class ModelVersionForm(forms.Form):
    kind = forms.ChoiceField(choices=ModelKind.choices)
    name = forms.CharField(max_length=120, help_text="The model's family, e.g. \"frcnn-small\" or \"multitask\".")
    version_tag = forms.CharField(max_length=40, label="Version tag",
                                  help_text="V1, V1.1, ...: new for this kind and name.")
    checkpoint = forms.FileField(help_text="A models_runtime checkpoint (.pt) of this kind. It is loaded without "
                                           "running code, its architecture built and run once before anything "
                                           "is stored.")
    config = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
                             label="Config (JSON)",
                             help_text="Optional settings laid over the checkpoint's own config, e.g. "
                                       "{\"score_threshold\": 0.6} for a detector. Leave empty for none.")
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}),
                            help_text="What changed: data, recipe, why this version exists.")

    def clean_config(self) -> dict:
        text = self.cleaned_data["config"].strip()
        if not text:
            return {}
        try:
            value = json_loads_bounded(text, max_depth=json_max_depth())
        except JsonTooDeep:
            raise ValidationError(JSON_TOO_DEEP.format(max_depth=json_max_depth())) from None
        except ValueError as error:
            raise ValidationError(MODEL_CONFIG_NOT_JSON.format(reason=error)) from None
        if not isinstance(value, dict):
            raise ValidationError(MODEL_CONFIG_NOT_OBJECT)
        return value


class OfflineEvaluationForm(forms.Form):
    """One number field per parameter of the version's kind, filled with its default; a field
    left empty takes the default."""

    def __init__(self, *args, kind: str, **kwargs):
        super().__init__(*args, **kwargs)
        for key, spec in OFFLINE_PARAMETERS[kind].items():
            self.fields[key] = forms.IntegerField(
                required=False, min_value=spec.minimum, max_value=spec.maximum, initial=spec.default,
                label=PARAMETER_LABELS.get(key, key), help_text=spec.help)

    def parameters(self) -> dict[str, int]:
        return {key: value for key, value in self.cleaned_data.items() if value is not None}
