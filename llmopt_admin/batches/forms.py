"""Forms of the batch pages: the JSONL upload and the retry choice."""

from __future__ import annotations

from typing import Any

from django import forms

from llmopt_admin.batches.models import JobMode
from llmopt_admin.batches.validation import RequestsInvalid, ValidRequest, validate_jsonl

MAX_UPLOAD_BYTES = 256 * 1024 * 1024  # Anthropic's per-batch size limit


class UploadForm(forms.Form):
    """A JSONL file of requests in Anthropic's batch format, checked line by line.

    One object per line: {"custom_id": ..., "params": {"model", "max_tokens", "messages", ...}}.
    The file is valid only if every line is; the errors name each line and field.
    """

    file = forms.FileField(
        label="Requests (JSONL)",
        help_text='One request per line: {"custom_id": "...", "params": {"model": ..., '
        '"max_tokens": ..., "messages": [...]}}',
    )
    name = forms.CharField(max_length=200, required=False, help_text="Defaults to the file name.")

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                f"the file is {upload.size} bytes; at most {MAX_UPLOAD_BYTES} bytes are accepted"
            )
        upload.seek(0)
        try:
            self.requests: list[ValidRequest] = validate_jsonl(upload)
        except RequestsInvalid as invalid:
            errors = [forms.ValidationError(str(e), code="invalid_line") for e in invalid.errors]
            if invalid.total > len(invalid.errors):
                errors.append(
                    forms.ValidationError(
                        f"… and {invalid.total - len(invalid.errors)} more errors",
                        code="more",
                    )
                )
            raise forms.ValidationError(errors) from invalid
        return upload


class RetryForm(forms.Form):
    mode = forms.ChoiceField(
        choices=JobMode.choices,
        initial=JobMode.BATCH,
        widget=forms.RadioSelect,
        help_text="Batch: half price, results within 24 h. Standard: full price, now.",
    )
