"""Forms of the config pages, generated from the core's field list (optimization.config.FIELDS).

The forms only carry text; the rules live in one place, the core's strict validation, which the
save service applies. Its messages are put back on the field they name.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django import forms

from llmopt_admin.configs.selectors import FIELD_LABELS, EntryView
from llmopt_admin.configs.services import field_of
from optimization.config import FIELDS, FieldSpec

# Switches save one by one through their own endpoint; the form holds the other fields.
FORM_FIELDS: tuple[FieldSpec, ...] = tuple(spec for spec in FIELDS if spec.type != "bool")
SWITCH_FIELDS: tuple[str, ...] = tuple(spec.name for spec in FIELDS if spec.type == "bool")


def _form_field(spec: FieldSpec) -> forms.Field:
    label = FIELD_LABELS.get(spec.name, spec.name)
    if spec.type == "choice" and spec.choices:
        return forms.ChoiceField(
            label=label,
            help_text=spec.help,
            choices=[(str(choice), str(choice)) for choice in spec.choices],
        )
    widget: forms.Widget
    if spec.type in ("int", "float"):
        # type=number gives the right keyboard; the range is checked by the core, not the browser.
        widget = forms.NumberInput(attrs={"step": "1" if spec.type == "int" else "any"})
    else:
        widget = forms.TextInput()
    return forms.CharField(label=label, help_text=spec.help, widget=widget, strip=True)


class EntrySettingsForm(forms.Form):
    """The non-switch optimization fields of one LLM entry, plus the revision it was read at."""

    revision = forms.CharField(widget=forms.HiddenInput)
    loaded = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for spec in FORM_FIELDS:
            self.fields[spec.name] = _form_field(spec)

    @classmethod
    def for_entry(cls, entry: EntryView, revision: str, data: Any = None) -> EntrySettingsForm:
        """A form showing the entry's current values (what the backend would use)."""
        initial: dict[str, Any] = {
            spec.name: entry.setting(spec.name).shown for spec in FORM_FIELDS
        }
        initial["revision"] = revision
        initial["loaded"] = json.dumps(entry.loaded)
        return cls(data=data, initial=initial, auto_id=f"id_{entry.dom_id}_%s")

    def changes(self) -> dict[str, Any]:
        """The optimization fields the operator changed, as typed (the core normalizes them)."""
        return {
            name: self.cleaned_data[name]
            for name in self.changed_data
            if name not in ("revision", "loaded")
        }

    def add_service_errors(self, errors: Mapping[str, str]) -> None:
        """Put the save service's errors (keyed `llm[i].field`) on the fields they name."""
        for path, message in errors.items():
            name = field_of(path)
            self.add_error(name if name in self.fields else None, message)


class SwitchForm(forms.Form):
    """One switch flipped on the config page: the checkbox, the revision, what was loaded."""

    value = forms.BooleanField(required=False)
    revision = forms.CharField()
    loaded = forms.CharField(required=False)


class DisableAllForm(forms.Form):
    """The kill switch needs an explicit confirmation, even without JavaScript."""

    confirm = forms.BooleanField(
        label="I understand this turns off caching and batching for every model",
        error_messages={
            "required": "Tick the confirmation box: this switches off every optimization."
        },
    )


def loaded_snapshot(raw: str | None) -> dict[str, Any] | None:
    """The `loaded` field a page sent back (the entry's fields when it was rendered), or None."""
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
