"""Config pages: the documents with their LLM entries (htmx saves), the kill switch, the audit log.

Views stay thin: parse the request, call one service or selector, render. Errors are answered in
place (htmx swaps 4xx responses on these pages, see templates/configs/config_index.html):
400 refused, 422 invalid, 409 lost race, 404 unknown document or entry, 503 store unreachable.

A lost race answers with the whole document as stored now: the entry the operator edited (found
by its identity, even if the backend moved it) says what changed meanwhile and who saved it, and
shows only the operator's own change laid over the current values, saved when they confirm.
A malformed document or entry is shown as such, naming the part and what is wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any
from urllib.parse import quote

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from llmopt_admin.accounts.decorators import staff_required as accounts_staff_required
from llmopt_admin.configs.forms import (
    SWITCH_FIELDS,
    DisableAllForm,
    EntrySettingsForm,
    SwitchForm,
    loaded_snapshot,
)
from llmopt_admin.configs.selectors import (
    FIELD_LABELS,
    EntryView,
    audit_action_list,
    audit_entry_list,
    audit_rows,
    config_changes_since,
    config_document_list,
    config_entry_get,
    document_view,
    entry_changes_since,
    entry_locate,
)
from llmopt_admin.configs.services import (
    ConfigChangeRejected,
    config_entry_update,
    config_optimizations_disable_all,
)
from llmopt_admin.configs.stores import get_config_store
from optimization.stores.base import DocumentNotFound, RevisionConflict, StoreError

AUDIT_PAGE_SIZE = 25

View = Callable[..., HttpResponse]


def staff_required(view: View) -> View:
    """Staff only (the shared accounts rule); an unreachable config store answers 503."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except StoreError as error:
            # The store (ArangoDB, say) is down: say so instead of a bare 500; the page's script
            # shows this text on the card that was being saved.
            return HttpResponse(
                f"The config store could not be reached: {error}",
                status=503,
                content_type="text/plain",
            )

    return accounts_staff_required(wrapped)


@require_GET
@staff_required
def config_index(request: HttpRequest) -> HttpResponse:
    """Every config document with each LLM entry and its optimization settings."""
    try:
        documents = config_document_list(store=get_config_store())
    except StoreError as error:
        return render(request, "configs/config_index.html", {"store_error": str(error)}, status=503)
    return render(
        request,
        "configs/config_index.html",
        {"documents": documents, "disable_form": DisableAllForm()},
    )


@require_GET
@staff_required
def entry_detail(request: HttpRequest, key: str, index: int) -> HttpResponse:
    """One entry's card as stored now (Cancel, Discard my change)."""
    entry, _revision = _entry_or_404(key, index)
    return _entry_response(request, entry)


@require_POST
@staff_required
def entry_switch(request: HttpRequest, key: str, index: int, name: str) -> HttpResponse:
    """Save one switch (optimizationEnabled, batchingEnabled, ...) of one entry right away."""
    if name not in SWITCH_FIELDS:
        raise Http404(f"{name} is not a switch")
    form = SwitchForm(request.POST)
    if not form.is_valid():
        entry, _revision = _entry_or_404(key, index)
        errors = [
            f"{field}: {message}" for field, messages in form.errors.items() for message in messages
        ]
        return _entry_response(
            request, entry, errors=[*errors, "Reload the page and try again."], status=400
        )
    said = f"{FIELD_LABELS.get(name, name)} {'on' if form.cleaned_data['value'] else 'off'}"
    return _save(
        request,
        key=key,
        index=index,
        changes={name: form.cleaned_data["value"]},
        revision=form.cleaned_data["revision"],
        lost=LostSave(
            identity=form.cleaned_data["entry"],
            loaded=form.cleaned_data["loaded"],
            mine=said,
            switch=name,
        ),
        saved=said,
    )


@require_http_methods(["GET", "POST"])
@staff_required
def entry_edit(request: HttpRequest, key: str, index: int) -> HttpResponse:
    """The validated form for an entry's other settings: GET shows it, POST saves it."""
    entry, revision = _entry_or_404(key, index)
    if entry.problem is not None:  # the card says what is wrong; there is nothing to edit
        return _entry_response(request, entry, status=200 if request.method == "GET" else 400)
    if request.method == "GET":
        return _entry_response(request, entry, form=EntrySettingsForm.for_entry(entry, revision))
    form = EntrySettingsForm.for_entry(entry, revision, data=request.POST)
    if not form.is_valid():
        return _entry_response(request, entry, form=form, status=422)
    changes = form.changes()
    if not changes:
        return _entry_response(request, entry, saved="Nothing changed")
    return _save(
        request,
        key=key,
        index=index,
        changes=changes,
        revision=form.cleaned_data["revision"],
        lost=LostSave(
            identity=form.cleaned_data["entry"],
            loaded=form.cleaned_data["loaded"],
            mine=", ".join(
                f"{FIELD_LABELS.get(name, name)} = {value}" for name, value in changes.items()
            ),
        ),
        saved="Settings saved",
        form=form,
    )


@require_POST
@staff_required
def disable_all(request: HttpRequest) -> HttpResponse:
    """The kill switch: optimizationEnabled=false on every entry of every document, audited."""
    form = DisableAllForm(request.POST)
    store = get_config_store()
    if not form.is_valid():
        return _documents_response(request, store, form=form, status=400)
    result = config_optimizations_disable_all(store=store, actor=request.user)
    notice = (
        f"Optimizations disabled: {result.entries_switched_off} LLM entr"
        f"{'y' if result.entries_switched_off == 1 else 'ies'} switched off"
        + (f" in {', '.join(result.switched_off)}." if result.switched_off else ".")
    )
    errors = [f"{key}: {why}" for key, why in result.failed.items()] + [
        f"{key}: left untouched: {'; '.join(problems.values())}"
        for key, problems in result.malformed.items()
    ]
    if not request.headers.get("HX-Request"):
        messages.success(request, notice)
        for error in errors:
            messages.error(request, error)
        return HttpResponseRedirect("/config/")
    return _documents_response(
        request, store, notice=notice, errors=errors, status=409 if result.failed else 200
    )


@require_GET
@staff_required
def audit_list(request: HttpRequest) -> HttpResponse:
    """Who changed what and when, newest first, filtered by action and target."""
    # No audit entry holds a NUL character, and PostgreSQL refuses one in a query.
    action = request.GET.get("action", "").replace("\x00", "").strip()
    target = request.GET.get("target", "").replace("\x00", "").strip()
    paginator = Paginator(
        audit_entry_list(action=action or None, target=target or None), AUDIT_PAGE_SIZE
    )
    page = paginator.get_page(request.GET.get("page"))
    query = "&".join(
        f"{name}={quote(value)}"
        for name, value in (("action", action), ("target", target))
        if value
    )
    return render(
        request,
        "configs/audit_list.html",
        {
            "page": page,
            "rows": audit_rows(page.object_list),
            "actions": audit_action_list(),
            "action": action,
            "target": target,
            "query": query,
        },
    )


@dataclass(frozen=True)
class LostSave:
    """What a save needs to explain itself if it loses a race: which entry the page showed
    (`identity`, `loaded`), the change in words, and the switch it flipped (None: the form)."""

    identity: str
    loaded: str
    mine: str
    switch: str | None = None


def _save(
    request: HttpRequest,
    *,
    key: str,
    index: int,
    changes: dict[str, Any],
    revision: str,
    lost: LostSave,
    saved: str,
    form: EntrySettingsForm | None = None,
) -> HttpResponse:
    store = get_config_store()
    try:
        result = config_entry_update(
            store=store,
            key=key,
            index=index,
            changes=changes,
            expected_revision=revision,
            actor=request.user,
        )
    except DocumentNotFound as error:
        raise Http404(str(error)) from error
    except RevisionConflict as conflict:
        return _conflict_response(request, conflict, index=index, changes=changes, lost=lost)
    except ConfigChangeRejected as rejected:
        entry, _current = _entry_or_404(key, index)
        status = 400 if rejected.kind == "refused" else 422
        if form is not None:
            form.add_service_errors(rejected.errors)
            return _entry_response(request, entry, form=form, status=status)
        return _entry_response(request, entry, errors=list(rejected.errors.values()), status=status)
    view = document_view(result.document)
    if not 0 <= index < len(view.entries):
        raise Http404("no such entry")
    return _entry_response(
        request,
        view.entries[index],
        saved=saved if result.changes else "Nothing changed",
        new_revision=result.document.revision,
    )


def _entry_or_404(key: str, index: int) -> tuple[EntryView, str]:
    try:
        revision, entry = config_entry_get(store=get_config_store(), key=key, index=index)
    except (DocumentNotFound, IndexError) as error:
        raise Http404(f"no LLM entry {index} in config document {key!r}") from error
    return entry, revision


def _entry_response(
    request: HttpRequest,
    entry: EntryView,
    *,
    saved: str | None = None,
    errors: list[str] | None = None,
    form: EntrySettingsForm | None = None,
    new_revision: str | None = None,
    status: int = 200,
) -> HttpResponse:
    # Opened directly (not by htmx): the whole page, not a bare card without styles or title.
    page = request.method == "GET" and not request.headers.get("HX-Request")
    return render(
        request,
        "configs/entry_page.html" if page else "configs/_entry.html",
        {
            "entry": entry,
            "saved": saved,
            "errors": errors or [],
            "form": form,
            "new_revision": new_revision,
        },
        status=status,
    )


def _conflict_response(
    request: HttpRequest,
    conflict: RevisionConflict,
    *,
    index: int,
    changes: dict[str, Any],
    lost: LostSave,
) -> HttpResponse:
    """409: the whole document as it is now; the entry the operator edited (found by identity,
    wherever it is now) says what changed meanwhile and who saved it, and shows the operator's
    change re-applied on top of the current values, saved only when they confirm."""
    document = document_view(conflict.current)
    entry = entry_locate(document, index, lost.identity)
    snapshot = loaded_snapshot(lost.loaded)
    history = config_changes_since(
        key=conflict.key,
        revision=conflict.expected_revision,
        current_revision=conflict.current.revision,
    )
    context: dict[str, Any] = {
        "index": None,
        "was": lost.identity or f"llm[{index}]",
        "was_index": index,
        "expected": conflict.expected_revision,
        "current": conflict.current.revision,
        "mine": lost.mine,
        "history": audit_rows(history.entries),
        "complete": history.complete,
    }
    if entry is not None and entry.problem is None:
        context |= {
            "index": entry.index,
            "moved": entry.index != index,
            "changed": entry_changes_since(snapshot, entry) if snapshot is not None else None,
        }
        if lost.switch is None:
            context["form"] = EntrySettingsForm.reapplied(entry, document.revision, changes)
        else:
            context["replay_url"] = f"{entry.url}switch/{lost.switch}/"
            context["replay"] = [("value", "on")] if changes.get(lost.switch) else []
    response = render(
        request, "configs/_document.html", {"doc": document, "conflict": context}, status=409
    )
    response["HX-Retarget"] = f"#{document.dom_id}"
    response["HX-Reswap"] = "outerHTML"
    return response


def _documents_response(
    request: HttpRequest,
    store: Any,
    *,
    notice: str | None = None,
    errors: list[str] | None = None,
    form: DisableAllForm | None = None,
    status: int = 200,
) -> HttpResponse:
    try:
        documents = config_document_list(store=store)
    except StoreError as error:
        documents, errors = [], [*(errors or []), str(error)]
    return render(
        request,
        "configs/_documents.html",
        {
            "documents": documents,
            "notice": notice,
            "errors": errors or [],
            "disable_form": form or DisableAllForm(),
        },
        status=status,
    )
