"""`POST /api/v1/models/import-config/`: a Hugging Face config.json -> a catalog model (staff)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from hwfit.api_base import errors_by_field
from models_catalog import imports
from models_catalog.api.serializers import ModelArchitectureSerializer


class ImportConfigSerializer(serializers.Serializer):
    config = serializers.JSONField(required=False, help_text="The config.json object.")
    file = serializers.FileField(required=False, help_text="Or the config.json file (multipart).")
    name = serializers.CharField(required=False, max_length=120, help_text="Catalog name (default: from the config).")
    dry_run = serializers.BooleanField(required=False, default=False,
                                       help_text="Answer the architecture read, save nothing.")

    def validate(self, attrs: dict) -> dict:
        given = [key for key in ("config", "file") if attrs.get(key) is not None]
        if len(given) != 1:
            raise serializers.ValidationError({"config": ["Give the config.json either as `config` (an object) or as "
                                                          "`file`, not both or neither."]})
        try:
            config = (imports.config_upload_read(upload=attrs["file"]) if "file" in given
                      else attrs["config"])
            if not isinstance(config, dict):
                raise imports.ConfigImportError("A config.json is a JSON object ({...}).")
            attrs["record"] = imports.architecture_from_config(config, name=attrs.get("name"))
        except imports.ConfigImportError as exc:
            raise serializers.ValidationError({given[0]: [str(exc)]}) from exc
        return attrs


class ImportConfigView(APIView):
    """Read a config.json into a model architecture, parameters counted from its shapes; save it."""

    permission_classes = [IsAdminUser]
    parser_classes = [JSONParser, MultiPartParser]

    @extend_schema(
        summary="Import a Hugging Face config.json as a catalog model",
        request=ImportConfigSerializer,
        responses={201: ModelArchitectureSerializer, 200: OpenApiResponse(description="dry_run: the record read."),
                   400: OpenApiResponse(description="The key it cannot read, or the field the catalog refuses.")},
        examples=[OpenApiExample("Llama 3.1 8B", request_only=True, value={"name": "My Llama", "config": {
            "model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336, "num_attention_heads": 32,
            "num_hidden_layers": 32, "num_key_value_heads": 8, "vocab_size": 128256,
            "max_position_embeddings": 131072, "tie_word_embeddings": False}})],
    )
    def post(self, request):
        serializer = ImportConfigSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        record = serializer.validated_data["record"]
        if serializer.validated_data["dry_run"]:
            return Response(record)
        try:
            model = imports.architecture_save(record=record)
        except imports.ValidationError as exc:
            raise serializers.ValidationError(errors_by_field(exc)) from exc
        return Response(ModelArchitectureSerializer(model).data, status=status.HTTP_201_CREATED)
