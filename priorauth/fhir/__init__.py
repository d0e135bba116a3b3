"""Da Vinci PAS 2.2.1 (FHIR R4) and CDS Hooks: the request bundle, its offline check against the
guide's profiles, payer responses and notifications, live submission, and the CRD-style hooks."""
