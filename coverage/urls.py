from django.urls import path

from coverage.api import CoverageCheckApi

urlpatterns = [path("check", CoverageCheckApi.as_view(), name="coverage-check")]
