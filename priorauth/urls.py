from django.urls import path

from priorauth import api

urlpatterns = [
    path("auth/token", api.AuthTokenApi.as_view(), name="auth-token"),
    path("auth/token/revoke", api.AuthTokenRevokeApi.as_view(), name="auth-token-revoke"),
    path("auth/me", api.WhoAmIApi.as_view(), name="auth-me"),
    path("auth/token/revoke-all", api.AuthTokenRevokeApi.as_view(revoke_all=True), name="auth-token-revoke-all"),
    path("requests", api.RequestListCreateApi.as_view(), name="requests"),
    path("requests/<int:pk>", api.RequestDetailApi.as_view(), name="request-detail"),
    path("requests/<int:pk>/submit", api.RequestSubmitApi.as_view(), name="request-submit"),
    path("requests/<int:pk>/send", api.RequestSendApi.as_view(), name="request-send"),
    path("requests/<int:pk>/decision", api.RequestDecisionApi.as_view(), name="request-decision"),
    path("requests/<int:pk>/appeals", api.RequestAppealApi.as_view(), name="request-appeal"),
    path("requests/<int:pk>/withdraw", api.RequestWithdrawApi.as_view(), name="request-withdraw"),
    path("requests/<int:pk>/follow-up", api.RequestFollowUpApi.as_view(), name="request-follow-up"),
    path("requests/<int:pk>/attachments", api.RequestAttachmentsApi.as_view(), name="request-attachments"),
    path(
        "requests/<int:pk>/attachments/<int:attachment_id>",
        api.AttachmentDownloadApi.as_view(),
        name="request-attachment-download",
    ),
    path("deadlines", api.DeadlinesApi.as_view(), name="deadlines"),
    path("rechecks", api.RecheckResultsApi.as_view(), name="rechecks"),
    path("rechecks/<int:pk>/seen", api.RecheckSeenApi.as_view(), name="recheck-seen"),
    path("metrics/payers", api.PayerMetricsApi.as_view(), name="metrics-payers"),
    path("metrics/scorecard", api.PayerScorecardApi.as_view(), name="metrics-scorecard"),
    path("audit", api.AuditEntriesApi.as_view(), name="audit"),
    path("patients", api.PatientListCreateApi.as_view(), name="patients"),
    path("patients/<int:pk>", api.PatientDetailApi.as_view(), name="patient-detail"),
    path("providers", api.ProviderListApi.as_view(), name="providers"),
]

# Letters (priorauth/letters/api.py)
from priorauth.letters import api as letters_api  # noqa: E402

urlpatterns += [
    path("requests/<int:pk>/letters", letters_api.RequestLettersApi.as_view(), name="request-letters"),
    path("letters/<int:pk>", letters_api.LetterDetailApi.as_view(), name="letter-detail"),
    path("letters/<int:pk>/paragraphs", letters_api.LetterParagraphsApi.as_view(), name="letter-paragraphs"),
    path(
        "letters/<int:pk>/request-signature",
        letters_api.LetterRequestSignatureApi.as_view(),
        name="letter-request-signature",
    ),
    path("letters/<int:pk>/sign", letters_api.LetterSignApi.as_view(), name="letter-sign"),
    path("letters/<int:pk>/retry", letters_api.LetterRetryApi.as_view(), name="letter-retry"),
    path("letters/<int:pk>/pdf", letters_api.LetterPdfApi.as_view(), name="letter-pdf"),
    path("requests/<int:pk>/payer-contact", letters_api.RequestPayerContactApi.as_view(), name="request-payer-contact"),
]

# Sending: DOCX drafts and fax packets (priorauth/letters/packet_api.py)
from priorauth.letters import packet_api  # noqa: E402

urlpatterns += [
    path("letters/<int:pk>/docx", packet_api.LetterDocxApi.as_view(), name="letter-docx"),
    path("letters/<int:pk>/packets", packet_api.LetterPacketsApi.as_view(), name="letter-packets"),
    path("packets/<int:pk>", packet_api.PacketDetailApi.as_view(), name="packet-detail"),
    path("packets/<int:pk>/pdf", packet_api.PacketPdfApi.as_view(), name="packet-pdf"),
]
