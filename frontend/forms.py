"""Forms of the staff pages; they parse input only, the service decides the rest."""
from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from evaluation.box_queues import MAX_REPLICATION as BOX_MAX_REPLICATION
from evaluation.models import EvalRun, ModelKind, ModelVersion
from evaluation.selectors import scene_set_list
from evaluation.services import MAX_REPLICATION
from labeling.models import (AggregationMethod, Attribute, Category, GoldenSet, PairImport, PairImportStatus, Queue,
                             TaskKind)
from labeling.services.signin import SignInFailed, SignInThrottled, signin_attempt, signin_client_address


ATTRIBUTE_QUEUE_ONE_SOURCE = "Choose either a box queue or a pair import as the source of the crops."


class ThrottledSignInMixin:
    """Signs in through labeling.services.signin instead of calling authenticate() directly, so the
    page and the admin share the API's failure counters. A throttled attempt is a form error that
    says how long to wait; ``signin_refusal`` keeps it for the view (429, Retry-After)."""

    signin_refusal: SignInThrottled | None = None

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            meta = self.request.META if self.request is not None else {}
            try:
                self.user_cache = signin_attempt(
                    username=username, password=password, request=self.request,
                    client_address=signin_client_address(remote_addr=meta.get("REMOTE_ADDR"),
                                                         forwarded_for=meta.get("HTTP_X_FORWARDED_FOR")))
            except SignInThrottled as refusal:
                self.signin_refusal = refusal
                raise ValidationError(str(refusal), code="signin_throttled") from refusal
            except SignInFailed:
                raise self.get_invalid_login_error() from None
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


class SignInForm(ThrottledSignInMixin, AuthenticationForm):
    pass


class AdminSignInForm(ThrottledSignInMixin, AdminAuthenticationForm):
    pass


class ModelVersionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: ModelVersion) -> str:
        return f"{obj.name} {obj.version_tag}"


class SceneSetChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return f"{obj.name} ({obj.n_scenes} scenes)"


class EvalRunForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="Say what changed, e.g. \"embedder V1.1 vs V1, category on\".")
    scene_set = SceneSetChoiceField(queryset=scene_set_list(), empty_label=None)
    detector = ModelVersionChoiceField(queryset=ModelVersion.objects.filter(kind=ModelKind.DETECTOR).order_by("name", "-created_at"),
                                       empty_label=None)
    embedder = ModelVersionChoiceField(queryset=ModelVersion.objects.filter(kind=ModelKind.EMBEDDER).order_by("name", "-created_at"),
                                       empty_label=None)
    restrict_category = forms.BooleanField(required=False, initial=True, label="Restrict to category",
                                           help_text="Retrieve only products of the detected object's category.")
    restrict_gender = forms.BooleanField(required=False, initial=False, label="Restrict to gender",
                                         help_text="Retrieve only products of the object's predicted gender (or unisex).")
    replication = forms.IntegerField(min_value=1, max_value=MAX_REPLICATION, initial=3,
                                     help_text="Labelers who judge each (query object, top-5) task.")
    golden_rate = forms.FloatField(min_value=0.0, max_value=1.0, initial=0.0,
                                   help_text="Share of claims served from golden tasks, 0 to 1.")
    baseline = forms.ModelChoiceField(queryset=EvalRun.objects.order_by("-created_at"), required=False,
                                      empty_label="No baseline",
                                      help_text="Report relative gains over this run, on the scenes both judged.")
    reuse_judgements = forms.BooleanField(
        required=False, initial=True, label="Reuse earlier judgements",
        help_text="Ask labelers only about (crop, product) pairs no earlier run asked under this guide version. "
                  "Turn off to force fresh judgements of every slot.")
    reuse_across_guides = forms.BooleanField(
        required=False, initial=False, label="Also reuse judgements made under other guide versions",
        help_text="Only with reuse on. Grades from another version of the relevance guide may mean something else.")


class BoxQueueForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="What the boxes are for, e.g. \"Detector training, spring scenes\".")
    scene_set = SceneSetChoiceField(queryset=scene_set_list(), empty_label=None)
    detector = ModelVersionChoiceField(
        queryset=ModelVersion.objects.filter(kind=ModelKind.DETECTOR).order_by("name", "-created_at"), required=False,
        empty_label="No pre-annotation", help_text="Pre-annotate every scene with this detector's boxes (on the GPU queue).")
    show_preannotations = forms.BooleanField(
        required=False, initial=True, label="Show the detector's boxes to labelers",
        help_text="Turn off for golden and calibration work, so labelers are not anchored by the model.")
    replication = forms.IntegerField(min_value=1, max_value=BOX_MAX_REPLICATION, initial=3,
                                     help_text="Labelers who box each scene.")
    golden_rate = forms.FloatField(min_value=0.0, max_value=1.0, initial=0.0,
                                   help_text="Share of claims served from the golden sets below, 0 to 1.")
    golden_sets = forms.ModelMultipleChoiceField(
        queryset=GoldenSet.objects.filter(task_kind=TaskKind.BOUNDING_BOXES).order_by("name"), required=False,
        widget=forms.CheckboxSelectMultiple, help_text="Golden box sets this queue draws its golden items from.")


class AttributeValueForm(forms.Form):
    attribute = forms.ModelChoiceField(queryset=Attribute.objects.order_by("pk"), widget=forms.HiddenInput)
    value = forms.CharField(max_length=60, help_text="lower-case letters, digits and underscores, e.g. teal")


class AttributeForm(forms.Form):
    name = forms.CharField(max_length=60, help_text="lower-case letters, digits and underscores, e.g. neckline")
    label = forms.CharField(max_length=120, help_text="what labelers read, e.g. Neckline")
    values = forms.CharField(max_length=2000, help_text="comma-separated, e.g. crew, v_neck, collar")
    categories = forms.ModelMultipleChoiceField(
        queryset=Category.objects.filter(children__isnull=True).order_by("path"), widget=forms.CheckboxSelectMultiple)

    def clean_values(self):
        return [value.strip() for value in self.cleaned_data["values"].split(",")]


class AttributeQueueForm(forms.Form):
    """Crops from a box queue (its consensus boxes or its detector's proposals) or a pair import."""

    name = forms.CharField(max_length=200)
    box_queue = forms.ModelChoiceField(queryset=Queue.objects.filter(task_kind=TaskKind.BOUNDING_BOXES)
                                       .order_by("-created_at"), required=False, empty_label="(none)",
                                       help_text="Take the crops from this box queue.")
    box_source = forms.ChoiceField(choices=[("consensus", "its labelers' consensus boxes"),
                                            ("proposals", "its detector's proposals (score at least 0.5)")],
                                   initial="consensus", required=False)
    pair_import = forms.ModelChoiceField(queryset=PairImport.objects.filter(status=PairImportStatus.DONE)
                                         .order_by("-created_at"), required=False, empty_label="(none)",
                                         help_text="Or take the creators' boxes of these imported pairs.")
    replication = forms.IntegerField(min_value=1, max_value=BOX_MAX_REPLICATION, initial=3)
    golden_rate = forms.FloatField(min_value=0.0, max_value=1.0, initial=0.0)
    golden_sets = forms.ModelMultipleChoiceField(
        queryset=GoldenSet.objects.filter(task_kind=TaskKind.ATTRIBUTES).order_by("name"), required=False,
        widget=forms.CheckboxSelectMultiple)

    def clean(self):
        cleaned = super().clean()
        if bool(cleaned.get("box_queue")) == bool(cleaned.get("pair_import")):
            raise forms.ValidationError(ATTRIBUTE_QUEUE_ONE_SOURCE)
        return cleaned


class CleanupQueueForm(forms.Form):
    name = forms.CharField(max_length=200)
    pair_import = forms.ModelChoiceField(queryset=PairImport.objects.filter(status=PairImportStatus.DONE)
                                         .order_by("-created_at"), empty_label=None,
                                         help_text="The imported creator pairs to clean.")
    replication = forms.IntegerField(min_value=1, max_value=BOX_MAX_REPLICATION, initial=3)
    golden_rate = forms.FloatField(min_value=0.0, max_value=1.0, initial=0.0)
    golden_sets = forms.ModelMultipleChoiceField(
        queryset=GoldenSet.objects.filter(task_kind=TaskKind.MATCHING_PAIR).order_by("name"), required=False,
        widget=forms.CheckboxSelectMultiple)


class QueueSettingsForm(forms.Form):
    """How a queue aggregates labels and how many labels its tasks get (labeling/QUEUE.md)."""

    aggregation = forms.ChoiceField(choices=AggregationMethod.choices,
                                    help_text="How the labels of a task become one answer in the run metrics and "
                                              "exports. Dawid-Skene weighs each labeler by how reliable they are.")
    replication = forms.IntegerField(min_value=1, max_value=MAX_REPLICATION,
                                     help_text="Labels per task; with adaptive replication, the most a task gets.")
    min_labels = forms.IntegerField(min_value=2, max_value=MAX_REPLICATION, required=False, label="Adaptive: minimum",
                                    help_text="Leave empty for a fixed replication. Labels every task gets before its "
                                              "agreement is checked.")
    agreement_target = forms.FloatField(min_value=0.01, max_value=1.0, required=False, label="Adaptive: agreement target",
                                        help_text="A task gets one more label at a time while the agreement of its "
                                                  "labels is below this share (1.0 = all agree), up to the replication.")
    # Qualification and re-calibration (labeling/calibration/CALIBRATION_qualification.md); the service
    # checks that the set is of the queue's kind.
    requires_qualification = forms.BooleanField(required=False, label="Require qualification",
                                                help_text="Labelers get tasks only after passing the qualification "
                                                          "set for the queue's guide version.")
    qualification_set = forms.ModelChoiceField(queryset=GoldenSet.objects.order_by("task_kind", "name"), required=False,
                                               label="Qualification set",
                                               help_text="The golden set (of this queue's kind) a qualification draws from.")
    qualification_pass_mark = forms.FloatField(min_value=0.0, max_value=1.0, required=False, label="Pass mark",
                                               help_text="Mean golden score a qualification needs, 0 to 1 (empty: 0.8).")
    qualification_items = forms.IntegerField(min_value=1, max_value=500, required=False, label="Items per attempt",
                                             help_text="Golden items per qualification attempt (empty: 10).")
    recalibration_window = forms.IntegerField(min_value=1, max_value=1000, required=False,
                                              label="Re-calibration: window",
                                              help_text="The last N golden labels of the kind (empty: off).")
    recalibration_threshold = forms.FloatField(min_value=0.0, max_value=1.0, required=False,
                                               label="Re-calibration: threshold",
                                               help_text="A labeler whose mean golden score over the window falls "
                                                         "below this is flagged and gets no tasks of the kind.")
    immediate_feedback = forms.BooleanField(required=False, label="Immediate feedback on golden items",
                                            help_text="After a golden item the labeler sees the expert's answer and "
                                                      "reason. Leave off on evaluation queues: it tells labelers "
                                                      "which items are golden.")

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("qualification_pass_mark") is None:
            cleaned["qualification_pass_mark"] = 0.8
        if cleaned.get("qualification_items") is None:
            cleaned["qualification_items"] = 10
        return cleaned
