"""Pages of batch jobs: list with live progress, upload, detail, download, cancel, retry."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from llmopt_admin.accounts.decorators import staff_required
from llmopt_admin.batches import selectors, services
from llmopt_admin.batches.forms import RetryForm, UploadForm
from llmopt_admin.batches.models import BatchJob, JobSource, JobStatus, Outcome

REQUESTS_PAGE_SIZE = 100


def _job(job_id: int) -> BatchJob:
    try:
        return selectors.batch_job_get(job_id=job_id)
    except BatchJob.DoesNotExist as missing:
        raise Http404(f"no batch job {job_id}") from missing


@require_GET
@staff_required
def job_list(request: HttpRequest) -> HttpResponse:
    """Every job with status, live progress, counts and cost vs baseline; the upload form."""
    status = selectors.valid_status(request.GET.get("status"))
    page = Paginator(selectors.batch_job_list(status=status), 50).get_page(request.GET.get("page"))
    return render(
        request,
        "batches/job_list.html",
        {"page": page, "status": status, "statuses": JobStatus.choices, "form": UploadForm()},
    )


@require_GET
@staff_required
def job_row(request: HttpRequest, job_id: int) -> HttpResponse:
    """One row of the list (htmx polls it every 2 s until the job is final)."""
    return render(request, "batches/_job_row.html", {"job": _job(job_id)})


@require_http_methods(["GET", "POST"])
@staff_required
def upload(request: HttpRequest) -> HttpResponse:
    """Upload a JSONL file; nothing is stored or submitted unless every line is valid."""
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        job = services.batch_job_create(
            requests=form.requests,
            submitted_by=services.submitter_label(user=request.user),
            user=request.user,  # type: ignore[arg-type]
            name=form.cleaned_data["name"] or form.cleaned_data["file"].name,
            source=JobSource.UPLOAD,
            provider=form.cleaned_data["provider"],
            model=form.cleaned_data["model"],
        )
        messages.success(request, f"Job {job.pk} stored with {job.request_count} requests.")
        return redirect("batches:detail", job_id=job.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "batches/upload.html", {"form": form}, status=status)


@require_GET
@staff_required
def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    """One job: progress, totals, linked jobs, actions and its requests filtered by outcome."""
    job = _job(job_id)
    outcome = selectors.valid_outcome(request.GET.get("outcome"))
    rows = selectors.batch_job_requests(job=job, outcome=outcome).defer("params", "output")
    page = Paginator(rows, REQUESTS_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "batches/job_detail.html",
        {
            "job": job,
            "page": page,
            "outcome": outcome,
            "outcomes": Outcome.choices,
            "retries": job.retries.order_by("created_at"),
            "retryable": len(services.retryable_requests(job)) if job.is_final else 0,
            "retry_form": RetryForm(),
        },
    )


@require_GET
@staff_required
def job_progress(request: HttpRequest, job_id: int) -> HttpResponse:
    """The detail page's progress card (polled every 2 s until the job is final).

    Once the job is final the card comes back without its trigger, so polling stops, and
    htmx reloads the page to show the results table and the retry choice.
    """
    job = _job(job_id)
    response = render(request, "batches/_job_progress.html", {"job": job})
    if job.is_final and request.headers.get("HX-Request"):
        response["HX-Refresh"] = "true"
    return response


@require_GET
@staff_required
def job_results(request: HttpRequest, job_id: int) -> StreamingHttpResponse:
    """The job's results as a JSONL download, streamed from the database."""
    job = _job(job_id)
    outcome = selectors.valid_outcome(request.GET.get("outcome"))
    response = StreamingHttpResponse(
        selectors.batch_job_results_jsonl(job=job, outcome=outcome),
        content_type="application/x-ndjson",
    )
    suffix = f"-{outcome}" if outcome else ""
    response["Content-Disposition"] = f'attachment; filename="batch-job-{job.pk}{suffix}.jsonl"'
    return response


@require_POST
@staff_required
def job_cancel(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job(job_id)
    try:
        services.batch_job_cancel(job=job)
    except services.JobActionRefused as refused:
        messages.error(request, str(refused))
    else:
        messages.info(request, f"Cancel of job {job.pk} requested; finished requests are kept.")
    return redirect("batches:detail", job_id=job.pk)


@require_POST
@staff_required
def job_retry(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job(job_id)
    form = RetryForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose how to retry: batch or standard API.")
        return redirect("batches:detail", job_id=job.pk)
    try:
        retry = services.batch_job_retry(
            job=job,
            mode=form.cleaned_data["mode"],
            submitted_by=services.submitter_label(user=request.user),
            user=request.user,  # type: ignore[arg-type]
        )
    except services.JobActionRefused as refused:
        messages.error(request, str(refused))
        return redirect("batches:detail", job_id=job.pk)
    messages.success(request, f"Job {retry.pk} retries {retry.request_count} requests.")
    return redirect("batches:detail", job_id=retry.pk)
