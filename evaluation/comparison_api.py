"""The comparison of two or more evaluation runs: values with intervals, relative gains over a
baseline or chained, paired bootstrap intervals and randomization p-values (evaluation/comparison.py,
docs/METRICS.md "Run comparison and significance"). Staff read it; labelers get 403. Thin: parse
the query, call the selector, answer."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from evaluation import comparison, selectors
from evaluation.metrics import METRIC_NAMES
from labeling.api_schema import error_example, error_responses, field_error_example
from labeling.permissions import IsStaffRole

STAFF_READ = "Experts, engineers and admins; labelers get 403."
COMPARE_RULES = (
    "`runs` names 2 to " + str(comparison.COMPARE_MAX_RUNS) + " different runs, comma separated "
    "(`runs=1,2,3`; a repeated `runs` parameter adds to the list). Rows come oldest run first. `mode=baseline` "
    "(the default) measures every run against `baseline` (by default the oldest run); `mode=chain` measures "
    "each run against the one before it, and `baseline`, if given, must still be one of the runs. A baseline "
    "that is not one of the runs is a 400 naming `baseline`; a run id no run has is a 404 naming it.")
COMPARE_EXAMPLES = [
    field_error_example("Too few runs", field="runs", message=comparison.COMPARE_TOO_FEW_RUNS.format(n=1)),
    field_error_example("A run listed twice", field="runs", message=comparison.COMPARE_RUN_REPEATED.format(id=3)),
    field_error_example("Not a run id", field="runs", message=comparison.COMPARE_RUN_ID_INVALID.format(value="x")),
    field_error_example("Baseline not among the runs", field="baseline",
                        message=comparison.COMPARE_BASELINE_NOT_AMONG_RUNS.format(id=4, ids="1, 2")),
    field_error_example("Unknown mode", field="mode", message='"sideways" is not a valid choice.'),
    error_example("Unknown run", code="not_found", status=404,
                  message=comparison.COMPARE_RUNS_MISSING.format(ids="42")),
]

_NUMBER = {"type": "number", "nullable": True}
_INTERVAL = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2, "nullable": True,
             "description": "95% percentile bootstrap interval [low, high]."}
GAIN_SCHEMA = {
    "type": "object", "nullable": True,
    "description": "The relative gain (candidate - baseline) / baseline over the reference run `reference_id`, on "
                   "the scenes the two runs share; null on the reference row.",
    "properties": {
        "metric": {"type": "string", "enum": list(METRIC_NAMES)},
        "reference_id": {"type": "integer"},
        "baseline": {**_NUMBER, "description": "The reference run's value on the shared scenes."},
        "candidate": {**_NUMBER, "description": "This run's value on the shared scenes."},
        "gain": _NUMBER,
        "ci": {**_INTERVAL, "description": "Paired bootstrap 95% interval of the gain (scenes resampled)."},
        "p_value": {**_NUMBER, "description": "Two-sided paired randomization p-value of no difference."},
        "n_shared_scenes": {"type": "integer"},
        "exact": {"type": "boolean", "nullable": True,
                  "description": "The p-value counted all 2^n swaps (at most 16 scenes) rather than 10,000 draws."},
        "n_permutations": {"type": "integer"},
    },
}
ROW_SCHEMA = {
    "type": "object",
    "properties": {"run_id": {"type": "integer"}, "value": _NUMBER, "ci": _INTERVAL, "n_judged": {"type": "integer"},
                   "gain": GAIN_SCHEMA},
}
METRIC_BLOCK_SCHEMA = {
    "type": "object",
    "properties": {"metric": {"type": "string", "enum": list(METRIC_NAMES)},
                   "rows": {"type": "array", "items": ROW_SCHEMA}},
}
COMPARE_SCHEMA = {
    "type": "object",
    "properties": {
        "mode": {"type": "string", "enum": list(comparison.COMPARE_MODES)},
        "baseline_id": {"type": "integer", "nullable": True, "description": "Null in chain mode."},
        "runs": {"type": "array", "items": {"type": "object", "properties": {
            "id": {"type": "integer"}, "name": {"type": "string"}, "n_judged": {"type": "integer"},
            "n_scenes": {"type": "integer"}, "aggregation": {"type": "string"}}}},
        "metrics": {"type": "array", "items": METRIC_BLOCK_SCHEMA},
        "per_category": {"type": "object", "properties": {
            "n_shared_scenes": {"type": "integer", "description": "Scenes every compared run judged."},
            "categories": {"type": "array", "items": {"type": "object", "properties": {
                "category": {"type": "string"}, "metrics": {"type": "array", "items": METRIC_BLOCK_SCHEMA}}}}}},
    },
}

RUNS_PARAMETER = OpenApiParameter(
    "runs", {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": comparison.MAX_RUN_ID},
             "minItems": 2, "maxItems": comparison.COMPARE_MAX_RUNS, "uniqueItems": True},
    required=True, style="form", explode=False, description="The runs to compare, comma separated.")
BASELINE_PARAMETER = OpenApiParameter(
    "baseline", {"type": "integer", "minimum": 1, "maximum": comparison.MAX_RUN_ID},
    description="The run every gain is measured against in baseline mode; one of `runs`. Default: the oldest.")
MODE_PARAMETER = OpenApiParameter(
    "mode", str, enum=list(comparison.COMPARE_MODES),
    description="`baseline`: every run against the baseline; `chain`: each run against the one before it.")


class CompareQuery(serializers.Serializer):
    baseline = serializers.IntegerField(required=False, min_value=1, max_value=comparison.MAX_RUN_ID)
    mode = serializers.ChoiceField(choices=comparison.COMPARE_MODES, required=False, default="baseline")


class EvalRunCompareApi(APIView):
    permission_classes = [IsAuthenticated, IsStaffRole]

    @extend_schema(operation_id="eval_runs_compare", parameters=[RUNS_PARAMETER, BASELINE_PARAMETER, MODE_PARAMETER],
                   summary="Compare two or more runs: values, relative gains, intervals and p-values.",
                   description=f"{STAFF_READ} {COMPARE_RULES}",
                   responses={200: OpenApiResponse(COMPARE_SCHEMA, description="The comparison."),
                              **error_responses(400, 401, 403, 404, examples=COMPARE_EXAMPLES, reasons={
                                  404: "A run id in `runs` that no run has (the message names it)."})})
    def get(self, request):
        query = CompareQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        try:
            block = selectors.eval_run_compare(
                run_ids=comparison.compare_run_ids_parse(request.query_params.getlist("runs")),
                baseline_id=query.validated_data.get("baseline"), mode=query.validated_data["mode"])
        except comparison.EvalRunCompareMissing as missing:
            raise NotFound(str(missing)) from missing
        except comparison.EvalRunCompareError as error:
            raise serializers.ValidationError({error.field: [str(error)]}) from error
        return Response(block)
