from django.urls import path

from priorauth.pages import views

app_name = "pages"

urlpatterns = [
    path("", views.home, name="home"),
    # Billing staff
    path("dashboard/", views.dashboard, name="dashboard"),
    path("requests/", views.request_list, name="request-list"),
    path("requests/new/", views.request_new, name="request-new"),
    path("requests/patients/", views.patient_search, name="patient-search"),
    path("requests/<int:pk>/", views.request_detail, name="request-detail"),
    path("requests/<int:pk>/edit/", views.request_edit, name="request-edit"),
    path("requests/<int:pk>/amend/", views.request_amend, name="request-amend"),
    path("requests/<int:pk>/redetermine/", views.request_redetermine, name="request-redetermine"),
    path("requests/<int:pk>/submit/", views.request_submit, name="request-submit"),
    path("requests/<int:pk>/send/", views.request_send, name="request-send"),
    path("requests/<int:pk>/withdraw/", views.request_withdraw, name="request-withdraw"),
    path("requests/<int:pk>/payer-contact/", views.request_payer_contact, name="request-payer-contact"),
    path("requests/<int:pk>/follow-up/", views.request_follow_up, name="request-follow-up"),
    path("requests/<int:pk>/decision/", views.request_decision, name="request-decision"),
    path("requests/<int:pk>/appeal/", views.request_appeal, name="request-appeal"),
    path("requests/<int:pk>/attachments/", views.attachment_upload, name="attachment-upload"),
    path("requests/<int:pk>/attachments/<int:attachment_id>/", views.attachment_download, name="attachment-download"),
    path("requests/<int:pk>/letters/", views.letter_request, name="letter-request"),
    # Letters: billing staff and the treating physician
    path("letters/", views.letter_list, name="letter-list"),
    path("letters/<int:pk>/", views.letter_detail, name="letter-detail"),
    path("letters/<int:pk>/edit/", views.letter_edit, name="letter-edit"),
    path("letters/<int:pk>/sign/", views.letter_sign, name="letter-sign"),
    path("letters/<int:pk>/hand-over/", views.letter_hand_over, name="letter-hand-over"),
    path("letters/<int:pk>/retry/", views.letter_retry, name="letter-retry"),
    path("letters/<int:pk>/r<int:number>/<str:stage>.pdf", views.letter_pdf, name="letter-pdf"),
    path("metrics/", views.payer_scorecard, name="scorecard"),
    # Notifications (billing staff and physicians)
    path("notifications/", views.notification_list, name="notification-list"),
    path("notifications/<int:pk>/open/", views.notification_open, name="notification-open"),
    # Physicians
    path("physician/", views.physician_home, name="physician-home"),
    # Admins (and billing staff): what a policy change did to open requests
    path("policy-changes/", views.policy_changes, name="policy-changes"),
    path("policy-changes/<int:result_id>/seen/", views.recheck_seen, name="recheck-seen"),
]

# Sending: DOCX drafts and fax packets (priorauth/pages/packet_views.py)
from priorauth.pages import packet_views  # noqa: E402

urlpatterns += [
    path("letters/<int:pk>/r<int:number>/draft.docx", packet_views.letter_docx, name="letter-docx"),
    path("letters/<int:pk>/packets/", packet_views.letter_packet, name="letter-packet"),
    path("packets/<int:pk>.pdf", packet_views.packet_pdf, name="packet-pdf"),
]
