"""Calibration API: runs (staff request, anyone reads), fits, live workers, measured-run imports, the ledger."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from devices.models import Device
from estimator.calibration import fits as fits_service
from estimator.calibration import runs as runs_service
from estimator.calibration.imports import MeasuredImportError, measured_runs_import
from estimator.calibration.ledger import accuracy_ledger
from estimator.calibration.parsers import FORMATS
from estimator.calibration.workers import live_workers
from estimator.engine.sweep import PRESETS
from estimator.models import CalibrationFit, CalibrationRun, MeasuredRun, Worker
from models_catalog.models import Runtime

_slug_of = {"slug_field": "slug"}


class CalibrationRunSerializer(serializers.ModelSerializer):
    device = serializers.SlugRelatedField(read_only=True, **_slug_of)
    runtime = serializers.SlugRelatedField(read_only=True, **_slug_of)
    requested_by = serializers.StringRelatedField()
    progress = serializers.FloatField(read_only=True)
    fit = serializers.SerializerMethodField()

    class Meta:
        model = CalibrationRun
        fields = ["id", "device", "runtime", "requested_by", "preset", "threads", "queue", "status", "progress",
                  "done", "total", "attempts", "worker", "error", "created_at", "started_at", "finished_at",
                  "heartbeat_at", "fit", "grid"]

    def get_fit(self, run: CalibrationRun) -> int | None:
        fits = getattr(run, "prefetched_fits", None)
        return fits[0].pk if fits else None


class CalibrationRequestSerializer(serializers.Serializer):
    device = serializers.SlugRelatedField(queryset=Device.objects.all(), **_slug_of)
    preset = serializers.ChoiceField(choices=PRESETS, required=False, help_text="Default: the device kind's grid.")
    grid = serializers.JSONField(required=False, help_text="A custom grid: [{shape, config, points}].")
    threads = serializers.IntegerField(required=False, min_value=1, max_value=1024)

    def validate(self, attrs):
        if "preset" in attrs and "grid" in attrs:
            raise serializers.ValidationError({"grid": ["Give a preset or a grid, not both."]})
        return attrs


class CalibrationRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Calibration runs with status and progress. Staff request one with POST (device slug, preset or grid)."""

    serializer_class = CalibrationRunSerializer
    filterset_fields = ["status", "device__slug"]
    ordering_fields = ["created_at"]
    ordering = ["-created_at"]
    search_fields = ["device__name", "device__slug"]

    def get_queryset(self):
        from django.db.models import Prefetch

        return CalibrationRun.objects.select_related("device", "runtime", "requested_by").prefetch_related(
            Prefetch("fits", queryset=CalibrationFit.objects.order_by("-pk"), to_attr="prefetched_fits"))

    @extend_schema(request=CalibrationRequestSerializer, responses={201: CalibrationRunSerializer})
    def create(self, request, *args, **kwargs):
        given = CalibrationRequestSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        try:
            run = runs_service.calibration_run_request(device=data["device"], requested_by=request.user,
                                                       preset=data.get("preset"), grid=data.get("grid"),
                                                       threads=data.get("threads"))
        except ValueError as exc:
            field = "grid" if str(exc).startswith("grid") else "threads" if str(exc).startswith("threads") else "non_field_errors"
            raise serializers.ValidationError({field: [str(exc)]}) from None
        return Response(self.get_serializer(self.get_queryset().get(pk=run.pk)).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: CalibrationRunSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel a run that has not finished (409 when it has)."""
        run = self.get_object()
        if not runs_service.calibration_run_cancel(run=run):
            return Response({"detail": f"Run {run.pk} has already finished ({run.status})."}, status=status.HTTP_409_CONFLICT)
        return Response(self.get_serializer(self.get_queryset().get(pk=run.pk)).data)


class CalibrationFitSerializer(serializers.ModelSerializer):
    device = serializers.SlugRelatedField(read_only=True, **_slug_of)
    runtime = serializers.SlugRelatedField(read_only=True, **_slug_of)

    class Meta:
        model = CalibrationFit
        fields = ["id", "device", "runtime", "run", "eff_m", "eff_c", "eff_attn", "t_fixed_s", "t_layer_s", "t_expert_s",
                  "error_p10_pct", "error_median_pct", "error_p90_pct", "prior_error_median_pct", "n_runs", "folds",
                  "accepted", "created_at", "detail"]


class RuntimeFitSerializer(serializers.Serializer):
    device = serializers.SlugRelatedField(queryset=Device.objects.all(), **_slug_of)
    runtime = serializers.SlugRelatedField(queryset=Runtime.objects.all(), **_slug_of)


class CalibrationFitViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Fits per (device, runtime), newest first; never edited. Staff POST {device, runtime} fits a runtime
    on a device from its imported measured runs."""

    serializer_class = CalibrationFitSerializer
    queryset = CalibrationFit.objects.select_related("device", "runtime")
    filterset_fields = ["accepted", "device__slug", "runtime__slug"]
    ordering_fields = ["created_at", "error_median_pct"]
    ordering = ["-created_at"]
    search_fields = ["device__name", "device__slug"]

    @extend_schema(request=RuntimeFitSerializer, responses={201: CalibrationFitSerializer})
    def create(self, request, *args, **kwargs):
        given = RuntimeFitSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            fit = fits_service.calibration_fit_runtime(**given.validated_data)
        except fits_service.CalibrationError as exc:
            raise serializers.ValidationError({"runtime": [str(exc)]}) from None
        return Response(self.get_serializer(fit).data, status=status.HTTP_201_CREATED)


class WorkerSerializer(serializers.ModelSerializer):
    device = serializers.SlugRelatedField(read_only=True, **_slug_of)
    device_name = serializers.CharField(source="device.name", read_only=True, default=None)

    class Meta:
        model = Worker
        fields = ["hostname", "queue", "device", "device_name", "device_proposed", "started_at", "last_heartbeat", "probe"]


class WorkerViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Live calibration workers (heard from in the last minute) and the devices they serve."""

    serializer_class = WorkerSerializer
    filter_backends: list = []
    pagination_class = None   # a handful of hosts

    def get_queryset(self):
        return live_workers()


class MeasuredRunSerializer(serializers.ModelSerializer):
    device = serializers.SlugRelatedField(read_only=True, **_slug_of)
    runtime = serializers.SlugRelatedField(read_only=True, **_slug_of)
    model = serializers.SlugRelatedField(read_only=True, **_slug_of)
    quantization = serializers.SlugRelatedField(read_only=True, **_slug_of)

    class Meta:
        model = MeasuredRun
        fields = ["id", "run", "key", "source", "device", "runtime", "model", "quantization", "metric", "test", "batch",
                  "n_devices", "tokens_per_s", "import_batch", "note", "created_at"]


class MeasuredImportSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=FORMATS)
    text = serializers.CharField(required=False, trim_whitespace=False, help_text="The pasted output.")
    file = serializers.FileField(required=False, help_text="Or the output as an uploaded file.")
    model = serializers.CharField(required=False, help_text="Catalog model (formats that do not name it).")
    quantization = serializers.CharField(required=False)
    device = serializers.CharField(required=False)
    runtime = serializers.CharField(required=False, help_text="Override the runtime a format implies.")
    n_devices = serializers.IntegerField(required=False, min_value=1)
    skip_bad = serializers.BooleanField(default=False, help_text="Store the good lines and report the bad ones.")

    def validate(self, attrs):
        upload = attrs.pop("file", None)
        if upload is not None:
            try:
                attrs["text"] = upload.read().decode("utf-8")
            except UnicodeDecodeError:
                raise serializers.ValidationError({"file": ["Not UTF-8 text."]}) from None
        if not attrs.get("text"):
            raise serializers.ValidationError({"text": ["Paste the output or upload a file."]})
        return attrs


class MeasuredRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Measured runs: engine configurations of calibration runs and imported runtime benchmarks."""

    serializer_class = MeasuredRunSerializer
    queryset = MeasuredRun.objects.select_related("device", "runtime", "model", "quantization")
    filterset_fields = ["source", "metric", "device__slug", "runtime__slug", "run", "import_batch"]
    ordering_fields = ["created_at", "tokens_per_s"]
    ordering = ["pk"]
    search_fields = ["key", "test", "device__name"]

    @extend_schema(request=MeasuredImportSerializer, responses={201: None})
    @action(detail=False, methods=["post"], url_path="import",
            parser_classes=[JSONParser, MultiPartParser, FormParser])
    def import_(self, request):
        """Staff paste or upload llama-bench (markdown/JSON), vLLM/SGLang JSON or measured-runs CSV.

        Any bad line: 400 listing every one, and nothing is stored (unless skip_bad)."""
        given = MeasuredImportSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = dict(given.validated_data)
        defaults = {k: data.pop(k) for k in ("model", "quantization", "device", "runtime", "n_devices") if k in data}
        try:
            result = measured_runs_import(text=data["text"], fmt=data["format"], defaults=defaults,
                                          skip_bad=data["skip_bad"])
        except MeasuredImportError as exc:
            return Response({"lines": exc.errors, "detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(result.as_dict(), status=status.HTTP_201_CREATED)


class AccuracyView(APIView):
    """The accuracy ledger: p10 / median / p90 of |estimate / measured - 1| (%) per device, runtime and family."""

    @extend_schema(responses={200: None})
    def get(self, request):
        device = None
        if request.query_params.get("device"):
            device = Device.objects.filter(slug=request.query_params["device"]).first()
            if device is None:
                raise serializers.ValidationError({"device": [f"No device '{request.query_params['device']}'."]})
        return Response({"results": accuracy_ledger(device=device)})
