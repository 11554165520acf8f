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
from llmopt_admin.configs.shapes import MAX_VALUE_TEXT
from optimization.config import FIELDS, FieldSpec

# Switches save one by one through their own endpoint; the form holds the other fields.
FORM_FIELDS: tuple[FieldSpec, ...] = tuple(spec for spec in FIELDS if spec.type != "bool")
SWITCH_FIELDS: tuple[str, ...] = tuple(spec.name for spec in FIELDS if spec.type == "bool")


def _error_messages(name: str, choices: tuple[object, ...] | None = None) -> dict[str, str]:
    """Django's own checks, worded like the core's: each message names the field."""
    messages = {
        "required": f"{name} needs a value",
        "max_length": f"{name} is too long: at most %(limit_value)d characters "
        "(it has %(show_value)d)",
        "null_characters_not_allowed": f"{name} must not contain NUL characters",
    }
    if choices:
        allowed = ", ".join(str(choice) for choice in choices)
        messages["invalid_choice"] = f"{name} must be one of {allowed}; got %(value)s"
    return messages


def _form_field(spec: FieldSpec) -> forms.Field:
    label = FIELD_LABELS.get(spec.name, spec.name)
    # show_hidden_initial: the page also posts the value each field was rendered with, so a
    # save (or a change re-applied after a conflict) writes only what this operator changed.
    if spec.type == "choice" and spec.choices:
        return forms.ChoiceField(
            label=label,
            help_text=spec.help,
            choices=[(str(choice), str(choice)) for choice in spec.choices],
            error_messages=_error_messages(spec.name, spec.choices),
            show_hidden_initial=True,
        )
    widget: forms.Widget
    if spec.type in ("int", "float"):
        # type=number gives the right keyboard; the range is checked by the core, not the browser.
        widget = forms.NumberInput(attrs={"step": "1" if spec.type == "int" else "any"})
    else:
        widget = forms.TextInput()
    return forms.CharField(
        label=label,
        help_text=spec.help,
        widget=widget,
        strip=True,
        max_length=MAX_VALUE_TEXT,
        error_messages=_error_messages(spec.name),
        show_hidden_initial=True,
    )


class EntrySettingsForm(forms.Form):
    """The non-switch optimization fields of one LLM entry, plus the revision it was read at.

    `entry` is the entry's identity (selectors.entry_identity), so a lost race can find the entry
    the operator edited even when the backend added or removed entries meanwhile.
    """

    revision = forms.CharField(widget=forms.HiddenInput)
    loaded = forms.CharField(widget=forms.HiddenInput, required=False)
    entry = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for spec in FORM_FIELDS:
            self.fields[spec.name] = _form_field(spec)
        self.repairs: frozenset[str] = frozenset()

    @classmethod
    def for_entry(cls, entry: EntryView, revision: str, data: Any = None) -> EntrySettingsForm:
        """A form showing the entry's current values (what the backend would use).

        A post without the values the form was rendered with (`initial-<field>`, e.g. from a
        script) is compared with the current values instead.
        """
        current = shown_values(entry)
        initial: dict[str, Any] = {**current, "revision": revision}
        initial["loaded"] = json.dumps(entry.loaded)
        initial["entry"] = entry.identity
        if data is not None:
            data = data.copy()
            for name, value in current.items():
                if f"initial-{name}" not in data:
                    data[f"initial-{name}"] = value
        form = cls(data=data, initial=initial, auto_id=f"id_{entry.dom_id}_%s")
        form.repairs = frozenset(entry.invalid_fields) & frozenset(current)
        return form

    @classmethod
    def reapplied(
        cls, entry: EntryView, revision: str, changes: Mapping[str, Any]
    ) -> EntrySettingsForm:
        """`changes` laid over the entry's current values: a lost save, ready to confirm."""
        current = shown_values(entry)
        data = {
            **{f"initial-{name}": value for name, value in current.items()},
            **current,
            **{name: str(value) for name, value in changes.items() if name in current},
            "revision": revision,
            "loaded": json.dumps(entry.loaded),
            "entry": entry.identity,
        }
        return cls.for_entry(entry, revision, data=data)

    def changes(self) -> dict[str, Any]:
        """The fields the operator changed from what the form showed, as typed (the core
        normalizes them), and every field whose stored value is invalid: the form shows the
        value the backend really uses there, and saving it repairs the stored one."""
        return {
            name: self.cleaned_data[name]
            for name in (*self.changed_data, *sorted(self.repairs))
            if name not in ("revision", "loaded", "entry")
        }

    def add_service_errors(self, errors: Mapping[str, str]) -> None:
        """Put the save service's errors (keyed `llm[i].field`) on the fields they name."""
        for path, message in errors.items():
            name = field_of(path)
            self.add_error(name if name in self.fields else None, message)


class SwitchForm(forms.Form):
    """One switch flipped on the config page: the checkbox, the revision, what was loaded, and
    which entry it was (see EntrySettingsForm)."""

    value = forms.BooleanField(required=False)
    revision = forms.CharField(error_messages={"required": "The page sent no revision"})
    loaded = forms.CharField(required=False)
    entry = forms.CharField(required=False)


class DisableAllForm(forms.Form):
    """The kill switch needs an explicit confirmation, even without JavaScript."""

    confirm = forms.BooleanField(
        label="I understand this turns off caching and batching for every model",
        error_messages={
            "required": "Tick the confirmation box: this switches off every optimization."
        },
    )


def shown_values(entry: EntryView) -> dict[str, str]:
    """The settings form's fields as the entry's card shows them now."""
    return {spec.name: entry.setting(spec.name).shown for spec in FORM_FIELDS}


def loaded_snapshot(raw: str | None) -> dict[str, Any] | None:
    """The `loaded` field a page sent back (the entry's fields when it was rendered), or None."""
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
