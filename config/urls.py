from django.contrib import admin
from django.contrib.auth.views import LogoutView
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config.health import HealthApi
from priorauth.check_api import CoverageCheckApi
from priorauth.pages.signin import keep_alive
from priorauth.pages.views import SignInView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/v1/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/coverage/check", CoverageCheckApi.as_view(), name="coverage-check"),
    path("api/v1/", include("priorauth.urls")),
    path("", include("priorauth.fhir.urls")),  # Da Vinci PAS and CDS Hooks (issue 14)
    path("api/v1/health", HealthApi.as_view(), name="health"),
    path("accounts/login/", SignInView.as_view(), name="login"),
    path("accounts/logout/", LogoutView.as_view(), name="logout"),
    path("accounts/keep-alive/", keep_alive, name="keep-alive"),
    path("", include("priorauth.pages.urls")),
]

handler404 = "config.exceptions.not_found"
