"""The form the import page and the admin share: paste or upload a config.json, or upload a GGUF."""

from __future__ import annotations

from typing import Any

from django import forms

from models_catalog import imports
from models_catalog.sources import slugify

_GGUF_MAGIC = b"GGUF"


class ModelImportForm(forms.Form):
    config_text = forms.CharField(
        label="config.json", required=False, widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false"}),
        help_text="Paste a Hugging Face config.json.")
    upload = forms.FileField(
        label="or a file", required=False,
        help_text="A config.json, or a .gguf file: only its header is read, so its first 32 MB are enough "
                  "(head -c 32M model.gguf > header.gguf).")
    name = forms.CharField(required=False, max_length=120, help_text="Catalog name (default: from the file).")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        text, upload = (data.get("config_text") or "").strip(), data.get("upload")
        if bool(text) == bool(upload):
            raise forms.ValidationError("Paste a config.json or choose a file (one of the two).")
        data["gguf"] = None
        try:
            if upload is not None:
                is_gguf = upload.name.lower().endswith(".gguf") or upload.read(4) == _GGUF_MAGIC
                upload.seek(0)
                if is_gguf:
                    data["gguf"] = imports.gguf_upload_read(upload=upload)
                    record = data["gguf"]["architecture"]
                else:
                    record = imports.architecture_from_config(imports.config_upload_read(upload=upload))
            else:
                record = imports.architecture_from_config(imports.config_text_read(text=text))
        except (imports.ConfigImportError, imports.GGUFImportError) as exc:
            self.add_error("upload" if upload is not None else "config_text", str(exc))
            return data
        if data.get("name"):
            record.update(name=data["name"], slug=slugify(data["name"]))
        data["record"] = record
        return data

    def save(self):
        """Save the record read (staff only; the caller checks). Field errors go back to the form."""
        try:
            return imports.architecture_save(record=self.cleaned_data["record"])
        except imports.ValidationError as exc:
            fields = set(self.fields)
            for field, messages in exc.message_dict.items():
                self.add_error(field if field in fields else None, [f"{field}: {m}" if field not in fields else m
                                                                    for m in messages])
            return None
