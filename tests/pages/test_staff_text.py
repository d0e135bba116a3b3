"""Internal notation does not reach staff: contract paths in words, source file names left out,
policy versions named by payer and revision."""

from __future__ import annotations

import pytest

from priorauth.templatetags.pages import staff_text, version_label


def test_contract_paths_become_the_words_of_the_field():
    assert staff_text("Not documented (missing: clinical.symptoms.types, clinical.conservative_care[].weeks)") == (
        "Not documented (missing: symptoms types, conservative care weeks)"
    )


def test_source_file_references_are_left_out():
    assert staff_text("Deadline 14 days (domain.md gives no payer date).") == "Deadline 14 days."


@pytest.mark.django_db
def test_a_policy_version_is_named_by_its_payer_and_revision():
    from policies.models import PolicyVersion

    version = PolicyVersion.objects.select_related("policy__payer").first()
    if version is None:
        from factories import install_shipped_policies

        install_shipped_policies()
        version = PolicyVersion.objects.select_related("policy__payer").first()
    assert version_label(version) == f"{version.policy.payer.name}'s policy, revision {version.revision}"
