"""The web pages of billing staff, physicians and admins: Django templates over the services and
selectors of priorauth/ and coverage/ (no business or permission rule lives here)."""
