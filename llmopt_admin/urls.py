from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from llmopt_admin.api import api


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico whatever the page says: send them to the real icon."""
    return redirect(static("favicon.svg"))


urlpatterns = [
    path("", RedirectView.as_view(url="/savings/", permanent=False)),
    path("favicon.ico", favicon),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("", include("llmopt_admin.configs.urls")),
    path("batches/", include("llmopt_admin.batches.urls")),
    path("savings/", include("llmopt_admin.savings.urls")),
]
