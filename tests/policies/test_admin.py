"""The registry admin, used as a superuser through the test client the way a browser posts its forms:
the Policy change form with its inlines refuses an unknown path, an unknown operator or a value of
the wrong type with the message next to the field; a valid edit publishes a new PolicyVersion naming
what changed and who changed it; every record's history page says who changed what and when;
search and filters work; published versions are read-only."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from sample_case import CONTRACT, sample_case

from coverage.checker import check
from policies.models import Criterion, EvidenceSource, Policy
from policies.snapshot import current_snapshot

EXAMPLES = CONTRACT


class ChangeForm(HTMLParser):
    """The fields of an admin change form as a browser would post them (inputs, checked boxes,
    selected options, textareas), leaving out the inlines' empty templates."""

    def __init__(self, form_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.inside = False
        self.data: dict[str, list[str]] = {}
        self.select: str | None = None
        self.textarea: str | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs) -> None:
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("id") == self.form_id
            return
        name = a.get("name")
        if not self.inside or (tag != "option" and (not name or "__prefix__" in name)):
            return
        if tag == "input":
            kind = a.get("type", "text")
            if kind in ("submit", "button", "file", "image", "reset") or (
                kind in ("checkbox", "radio") and "checked" not in a
            ):
                return
            self.data.setdefault(name, []).append(a.get("value") or ("on" if kind == "checkbox" else ""))
        elif tag == "select":
            self.select = name
            self.data.setdefault(name, [])
        elif tag == "option" and self.select and "selected" in a:
            self.data[self.select].append(a.get("value", ""))
        elif tag == "textarea":
            self.textarea, self.text = name, []

    def handle_data(self, data: str) -> None:
        if self.textarea:
            self.text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = None
        elif tag == "textarea" and self.textarea:
            text = "".join(self.text)
            self.data[self.textarea] = [text.removeprefix("\n")]
            self.textarea = None


@pytest.fixture
def admin(seeded, django_user_model):
    return django_user_model.objects.create_superuser("dana", "dana@example.com", "a-long-admin-password")


@pytest.fixture
def admin_client(client, admin):
    client.force_login(admin)
    return client


def change_url(obj) -> str:
    return f"/admin/policies/{obj._meta.model_name}/{obj.pk}/change/"


def form_of(client, url: str, form_id: str) -> dict[str, list[str]]:
    response = client.get(url)
    assert response.status_code == 200
    parser = ChangeForm(form_id)
    parser.feed(response.content.decode())
    assert parser.data, f"no form {form_id} on {url}"
    return parser.data


def medicare() -> Policy:
    return Policy.objects.get(payer__code="medicare")


def criterion_prefix(data: dict[str, list[str]], key: str) -> str:
    [name] = [n for n, v in data.items() if n.startswith("criteria-") and n.endswith("-key") and v == [key]]
    return name.removesuffix("-key")


def post_policy(client, edit) -> tuple:
    """Open Medicare's change form, apply edit(data, prefix of ligamentum_flavum), save."""
    url = change_url(medicare())
    data = form_of(client, url, "policy_form")
    edit(data, criterion_prefix(data, "ligamentum_flavum"))
    return client.post(url, {**data, "_save": "Save"}), data


def inline_errors(response, field: str) -> list[str]:
    """The errors shown next to a field of the criteria inline."""
    [formset] = [f.formset for f in response.context["inline_admin_formsets"] if f.formset.prefix == "criteria"]
    return [m for form in formset.forms for m in form.errors.get(field, [])]


def example() -> dict:
    return sample_case()


# --------------------------------------------------------------------------- the Policy form


def test_saving_the_form_unchanged_publishes_nothing(admin_client):
    response, _ = post_policy(admin_client, lambda data, p: None)
    assert response.status_code == 302
    assert medicare().versions.count() == 1


@pytest.mark.parametrize(
    ("field", "typed", "message"),
    [
        ("path", "clinical.imaging.thickness_mm", "unknown case field path &#x27;clinical.imaging.thickness_mm&#x27;"),
        ("operator", "at_least", "unknown operator &#x27;at_least&#x27;"),
        ("value", '"2.5"', "operator gte needs a number, not the text &#x27;2.5&#x27;"),
        ("value", "[2.5]", "operator gte needs a number, not a list"),
        ("reason_met", "{actual:.1f} mm", "takes no conversion or format"),
    ],
)
def test_the_policy_form_refuses_a_bad_criterion_with_the_message_next_to_the_field(
    admin_client, field, typed, message
):
    response, data = post_policy(admin_client, lambda data, p: data.update({f"{p}-{field}": [typed]}))
    prefix = criterion_prefix(data, "ligamentum_flavum") if field != "key" else None
    assert response.status_code == 200
    [error] = inline_errors(response, field)
    assert message.replace("&#x27;", "'") in error
    # Shown in the page right before that very field of the ligamentum_flavum inline.
    page = response.content.decode()
    field_at = page.index(f'name="{prefix}-{field}"')
    assert message in page[page.rindex('class="errorlist', 0, field_at) : field_at]
    assert medicare().versions.count() == 1
    assert Criterion.objects.get(policy=medicare(), key="ligamentum_flavum").value == 2.5


def test_the_policy_form_names_every_bad_field_at_once(admin_client):
    def edit(data, p):
        data[f"{p}-path"] = ["clinical.nowhere"]
        data[f"{p}-operator"] = ["nope"]

    response, _ = post_policy(admin_client, edit)
    assert response.status_code == 200
    assert inline_errors(response, "path") and inline_errors(response, "operator")


def test_the_policy_form_refuses_to_drop_a_contract_criterion(admin_client):
    response, _ = post_policy(admin_client, lambda data, p: data.update({f"{p}-DELETE": ["on"]}))
    assert response.status_code == 200
    [formset] = [f.formset for f in response.context["inline_admin_formsets"] if f.formset.prefix == "criteria"]
    assert "missing: ligamentum_flavum" in formset.non_form_errors()[0]
    assert Criterion.objects.filter(policy=medicare(), key="ligamentum_flavum").exists()


def test_the_policy_form_refuses_to_rename_a_contract_criterion(admin_client):
    response, _ = post_policy(admin_client, lambda data, p: data.update({f"{p}-key": ["flavum"]}))
    assert response.status_code == 200
    assert any("keep its key" in m for m in inline_errors(response, "key"))


def test_a_valid_edit_publishes_a_new_version_by_the_admin_naming_the_change(admin_client, admin):
    response, _ = post_policy(admin_client, lambda data, p: data.update({f"{p}-value": ["3.0"]}))
    assert response.status_code == 302
    policy = medicare()
    assert policy.revision == 2
    version = policy.versions.get(revision=2)
    assert version.created_by == admin
    assert version.summary.splitlines() == ["admin edit", "criterion ligamentum_flavum value: 2.5 → 3.0"]
    assert policy.versions.get(revision=1).snapshot != version.snapshot


def test_the_next_check_after_an_admin_edit_uses_it(admin_client):
    assert check(example(), snapshot=current_snapshot())["decision"] == "meets_criteria"
    post_policy(admin_client, lambda data, p: data.update({f"{p}-value": ["5"]}))
    determination = check(example(), snapshot=current_snapshot())
    assert determination["decision"] == "not_met"
    assert determination["policy"]["revision"] == 2


def test_the_policy_form_shows_the_published_versions_read_only(admin_client):
    post_policy(admin_client, lambda data, p: data.update({f"{p}-value": ["3.0"]}))
    response = admin_client.get(change_url(medicare()))
    [versions] = [f for f in response.context["inline_admin_formsets"] if f.formset.prefix == "versions"]
    assert [form.instance.revision for form in versions.formset.forms] == [2, 1]
    assert not versions.has_add_permission and not versions.has_change_permission and not versions.has_delete_permission


# --------------------------------------------------------------------------- the Criterion form


def test_the_criterion_form_refuses_a_value_of_the_wrong_type(admin_client):
    criterion = Criterion.objects.get(policy=medicare(), key="spondylolisthesis")
    data = form_of(admin_client, change_url(criterion), "criterion_form")
    data["value"] = ['"2"']
    response = admin_client.post(change_url(criterion), {**data, "_save": "Save"})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["value"] == ["operator lte needs a number, not the text '2'"]


def test_the_criterion_form_publishes_its_policy(admin_client, admin):
    criterion = Criterion.objects.get(policy=medicare(), key="spondylolisthesis")
    data = form_of(admin_client, change_url(criterion), "criterion_form")
    data["value"] = ["1"]
    assert admin_client.post(change_url(criterion), {**data, "_save": "Save"}).status_code == 302
    version = medicare().versions.get(revision=2)
    assert (version.created_by, "criterion spondylolisthesis value: 2 → 1" in version.summary) == (admin, True)


def test_a_contract_criterion_cannot_be_deleted_but_an_advisory_one_can_and_publishes(admin_client):
    contract = Criterion.objects.get(policy=medicare(), key="ligamentum_flavum")
    assert admin_client.post(f"/admin/policies/criterion/{contract.pk}/delete/", {"post": "yes"}).status_code == 403
    advisory = Criterion.objects.get(policy=medicare(), key="pain_severity")
    assert admin_client.post(f"/admin/policies/criterion/{advisory.pk}/delete/", {"post": "yes"}).status_code == 302
    assert "criterion pain_severity removed" in medicare().versions.get(revision=2).summary
    assert "pain_severity" not in {
        c["key"] for c in check(example(), snapshot=current_snapshot())["clinical"]["criteria"]
    }


# --------------------------------------------------------------------------- history


def test_the_policy_history_page_lists_who_changed_what_and_when(admin_client, admin):
    post_policy(admin_client, lambda data, p: data.update({"title": ["PILD for LSS (edited)"]}))
    record = medicare().history.order_by("-history_date", "-history_id").first()
    assert (record.history_user, record.title, record.history_type) == (admin, "PILD for LSS (edited)", "~")
    response = admin_client.get(f"/admin/policies/policy/{medicare().pk}/history/")
    assert response.status_code == 200
    changes = response.content.decode()
    changes = changes[changes.index('id="change-history"') :]
    assert '">dana</a>' in changes
    assert "<strong>Title:</strong>" in changes and "PILD for LSS (edited)" in changes
    assert record.history_date.strftime("%Y") in changes


def test_the_criterion_history_page_lists_who_changed_its_value_and_when(admin_client, admin):
    post_policy(admin_client, lambda data, p: data.update({f"{p}-value": ["3.0"]}))
    criterion = Criterion.objects.get(policy=medicare(), key="ligamentum_flavum")
    record = criterion.history.order_by("-history_date", "-history_id").first()
    assert (record.history_user, record.value, record.history_type) == (admin, 3.0, "~")
    page = admin_client.get(f"/admin/policies/criterion/{criterion.pk}/history/").content.decode()
    assert "dana" in page
    changes = page[page.index('id="change-history"') :]
    assert "<strong>Value:</strong>" in changes and "2.5\n" in changes and "3.0" in changes
    assert record.history_date.strftime("%Y") in page


def test_the_evidence_history_page_lists_who_changed_it_and_its_citing_policies_are_republished(admin_client, admin):
    evidence = EvidenceSource.objects.get(key="ncd-150-13")
    data = form_of(admin_client, change_url(evidence), "evidencesource_form")
    data["short"] = ["CMS NCD 150.13 (checked)"]
    assert admin_client.post(change_url(evidence), {**data, "_save": "Save"}).status_code == 302
    page = admin_client.get(f"/admin/policies/evidencesource/{evidence.pk}/history/").content.decode()
    assert "dana" in page and "CMS NCD 150.13 (checked)" in page
    assert evidence.history.order_by("-history_date", "-history_id").first().history_user == admin
    version = medicare().versions.get(revision=2)
    assert (version.created_by, version.summary.splitlines()[0]) == (admin, "evidence ncd-150-13 edited")
    assert "CMS NCD 150.13 (checked)" in check(example(), snapshot=current_snapshot())["policy"]["sources"]


def test_reverting_a_criterion_from_its_history_publishes_the_reverted_policy(admin_client):
    post_policy(admin_client, lambda data, p: data.update({f"{p}-value": ["3.0"]}))
    criterion = Criterion.objects.get(policy=medicare(), key="ligamentum_flavum")
    original = criterion.history.filter(value=2.5).order_by("history_date", "history_id").last()
    url = f"/admin/policies/criterion/{criterion.pk}/history/{original.history_id}/"
    data = form_of(admin_client, url, "historicalcriterion_form")
    assert data["value"] == ["2.5"]
    assert admin_client.post(url, {**data, "_save": "Save"}).status_code == 302
    criterion.refresh_from_db()
    assert criterion.value == 2.5
    version = medicare().versions.get(revision=3)
    assert "criterion ligamentum_flavum value: 3.0 → 2.5" in version.summary
    assert check(example(), snapshot=current_snapshot())["policy"]["revision"] == 3


# --------------------------------------------------------------------------- lists


def listed(client, url: str, **params) -> list:
    response = client.get(url, params)
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def test_policies_can_be_searched_and_filtered(admin_client):
    assert [p.payer.code for p in listed(admin_client, "/admin/policies/policy/", q="TRICARE")] == ["tricare"]
    assert {p.payer.code for p in listed(admin_client, "/admin/policies/policy/", q="ced_study_enrollment")} == {
        "medicare",
        "medicare-advantage",
    }
    unverified = {
        p.payer.code for p in listed(admin_client, "/admin/policies/policy/", review_status__exact="unverified")
    }
    assert unverified == {"tricare", "va-community-care"}
    assert [p.payer.code for p in listed(admin_client, "/admin/policies/policy/", payer__program__exact="ihs")] == [
        "ihs-prc"
    ]
    assert {
        p.payer.code for p in listed(admin_client, "/admin/policies/policy/", prior_authorization__required__exact="0")
    } == {"medicare"}


def test_criteria_can_be_searched_and_filtered(admin_client):
    found = listed(admin_client, "/admin/policies/criterion/", q="ligamentum_flavum_mm")
    assert len(found) == 6 and {c.key for c in found} == {"ligamentum_flavum"}
    gte = listed(
        admin_client, "/admin/policies/criterion/", operator="gte", policy__payer__id__exact=str(medicare().payer_id)
    )
    assert {c.key for c in gte} == {"ligamentum_flavum", "symptom_duration", "functional_impairment", "pain_severity"}
    advisory = listed(admin_client, "/admin/policies/criterion/", required__exact="0", section__exact="payer")
    assert {c.key for c in advisory} == {"age_65_or_older", "neurogenic_claudication"}


def test_evidence_can_be_searched_and_filtered_by_certainty(admin_client):
    assert [e.key for e in listed(admin_client, "/admin/policies/evidencesource/", q="WISeR")] == ["wiser-model"]
    low = listed(admin_client, "/admin/policies/evidencesource/", certainty__exact="M")
    assert low and all(e.certainty == "M" for e in low)


def test_published_versions_can_be_listed_by_payer(admin_client):
    versions = listed(admin_client, "/admin/policies/policyversion/", policy__payer__id__exact=str(medicare().payer_id))
    assert [(v.policy.payer.code, v.revision) for v in versions] == [("medicare", 1)]


# --------------------------------------------------------------------------- published versions are read-only


def test_a_published_version_can_be_read_but_not_changed_added_or_deleted(admin_client):
    version = medicare().versions.get()
    response = admin_client.get(change_url(version))
    assert response.status_code == 200
    assert 'name="_save"' not in response.content.decode()
    assert "NCD 150.13" in response.content.decode()
    assert admin_client.post(change_url(version), {"summary": "rewritten"}).status_code == 403
    assert admin_client.get("/admin/policies/policyversion/add/").status_code == 403
    assert admin_client.post(f"/admin/policies/policyversion/{version.pk}/delete/", {"post": "yes"}).status_code == 403
    version.refresh_from_db()
    assert version.summary == "seed_policies\nfirst version"


def test_someone_who_is_not_staff_cannot_reach_the_registry_admin(seeded, client, django_user_model):
    client.force_login(django_user_model.objects.create_user("charlie", password="a-long-user-password"))
    response = client.get(change_url(medicare()))
    assert response.status_code == 302
    assert "/login/" in response["Location"]
