"""What htmx would send for a form in a rendered page: its fields plus its `hx-include` targets."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class _Form:
    attrs: dict[str, str]
    fields: list[tuple[str, str]] = field(default_factory=list)


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[_Form] = []
        self.by_id: dict[str, tuple[str, str]] = {}
        self._open: list[_Form] = []
        self._select: tuple[str, list[tuple[str, bool]]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._open.append(_Form(values))
            self.forms.append(self._open[-1])
        elif tag == "input" and "name" in values:
            checked = values.get("type") not in ("checkbox", "radio") or "checked" in values
            if "hx-post" in values:  # a switch posts itself, not a form
                own = [(values["name"], values.get("value", ""))] if checked else []
                self.forms.append(_Form(values, own))
            elif checked and "disabled" not in values:
                self._add(values, values.get("value", ""))
        elif tag == "select" and "name" in values:
            self._select = (values["name"], [])
            self._select_attrs = values
        elif tag == "option" and self._select is not None:
            self._select[1].append((values.get("value", ""), "selected" in values))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._open:
            self._open.pop()
        elif tag == "select" and self._select is not None:
            _name, options = self._select
            chosen = next(
                (v for v, selected in options if selected), options[0][0] if options else ""
            )
            self._add(self._select_attrs, chosen)
            self._select = None

    def _add(self, attrs: dict[str, str], value: str) -> None:
        item = (attrs["name"], value)
        if "id" in attrs:
            self.by_id[attrs["id"]] = item
        if self._open:
            self._open[-1].fields.append(item)


def htmx_submission(html: str, marker: str) -> tuple[str, dict[str, str]]:
    """(URL, values) of the first form whose hx-post contains `marker`, as htmx would post it."""
    page = _Page()
    page.feed(html)
    for form in page.forms:
        url = form.attrs.get("hx-post", "")
        if marker in url:
            values = dict(form.fields)
            for selector in filter(None, form.attrs.get("hx-include", "").split(",")):
                included = page.by_id.get(selector.strip().removeprefix("#"))
                if included is not None:
                    values[included[0]] = included[1]
            return url, values
    raise AssertionError(f"no form posting to *{marker}* in the page")


def input_value(html: str, element_id: str) -> str:
    """The value of the input with id `element_id`."""
    page = _Page()
    page.feed(html)
    return page.by_id[element_id][1]
