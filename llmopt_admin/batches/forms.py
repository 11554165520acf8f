"""Forms of the batch pages: the JSONL upload and the retry choice."""

from __future__ import annotations

from typing import Any

from django import forms

from llmopt_admin.batches.models import JobMode, JobProvider
from llmopt_admin.batches.validation import (
    RequestsInvalid,
    ValidRequest,
    job_model_errors,
    validate_jsonl,
)

MAX_UPLOAD_BYTES = 256 * 1024 * 1024  # Anthropic's per-batch size limit


class UploadForm(forms.Form):
    """A JSONL file of requests for the chosen provider, checked line by line.

    One object per line: {"custom_id": ..., "params": {...}}, params in Anthropic's Messages
    format or, for OpenAI and Azure OpenAI, in Chat Completions format. The file is valid only
    if every line is; the errors name each line and field.
    """

    # Before the file: its lines are checked in the chosen provider's format.
    provider = forms.ChoiceField(
        choices=JobProvider.choices,
        initial=JobProvider.ANTHROPIC,
        required=False,  # Anthropic when not chosen
        help_text="Anthropic: Messages params. OpenAI, Azure OpenAI: Chat Completions params.",
    )
    model = forms.CharField(
        max_length=120,
        required=False,
        help_text="Optional: fills params.model where a line has none. Required for Azure "
        "OpenAI: the OpenAI model behind the deployments the lines name (it prices the job).",
    )
    file = forms.FileField(
        label="Requests (JSONL)",
        help_text='One request per line: {"custom_id": "...", "params": {"model": ..., '
        '"max_tokens": ..., "messages": [...]}}',
    )
    name = forms.CharField(max_length=200, required=False, help_text="Defaults to the file name.")

    def clean_provider(self) -> str:
        return str(self.cleaned_data.get("provider") or JobProvider.ANTHROPIC)

    def clean_model(self) -> str | None:
        model = self.cleaned_data.get("model") or None
        provider = self.cleaned_data.get("provider")
        if provider is not None:
            problems = [message for _, message in job_model_errors(provider, model)]
            if problems:
                raise forms.ValidationError(problems)
        return model

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                f"the file is {upload.size} bytes; at most {MAX_UPLOAD_BYTES} bytes are accepted"
            )
        upload.seek(0)
        try:
            self.requests: list[ValidRequest] = validate_jsonl(
                upload,
                provider=self.cleaned_data.get("provider", JobProvider.ANTHROPIC),
                model=self.cleaned_data.get("model"),
            )
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
