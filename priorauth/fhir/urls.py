"""PAS and CDS Hooks routes, included from config/urls.py at the site root."""

from django.urls import path

from priorauth.fhir import api, cds_hooks, pages

urlpatterns = [
    path(
        "api/v1/requests/<int:pk>/pas-bundle",
        api.PasBundleApi.as_view(),
        name="request-pas-bundle",
    ),
    path(
        "api/v1/requests/<int:pk>/pas-bundle/check",
        api.PasBundleCheckApi.as_view(),
        name="request-pas-check",
    ),
    path(
        "api/v1/requests/<int:pk>/pas-response",
        api.PasResponseApi.as_view(),
        name="request-pas-response",
    ),
    path(
        "api/v1/requests/<int:pk>/pas-submit",
        api.PasSubmitApi.as_view(),
        name="request-pas-submit",
    ),
    path(
        "api/v1/pas/notifications",
        api.PasNotificationApi.as_view(),
        name="pas-notifications",
    ),
    path("cds-services", cds_hooks.DiscoveryApi.as_view(), name="cds-discovery"),
    path("cds-services/<slug:service_id>", cds_hooks.HookApi.as_view(), name="cds-hook"),
    path("requests/<int:pk>/pas/", pages.pas_review, name="request-pas-review"),
]
