"""`export_policies` / `import_policies` as the contract says: export → import → export gives the
same bytes and no new version; a changed file makes a new version of each changed policy only, the
old one stays in PolicyVersion and in the records' history, and the very next check (API and
check_case, no restart) uses it. An invalid file names every problem by dotted path, exits 2, and
writes nothing at all."""

from __future__ import annotations

import copy
import json
from io import StringIO
from pathlib import Path

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.core.management import call_command
from sample_case import CONTRACT, sample_case

import policies.services
from factories import signed_in_member
from policies.models import Criterion, EvidenceSource, Policy, PolicyVersion
from policies.services import registry_import

EXAMPLES = CONTRACT


@pytest.fixture
def client(client, db):
    # The check takes PHI: a signed-in practice member (issue 10).
    return signed_in_member(client)


def export(*args: str) -> str:
    out = StringIO()
    call_command("export_policies", *args, stdout=out)
    return out.getvalue()


def import_file(path: Path | str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("import_policies", str(path), stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue(), err.getvalue()


def write(tmp_path: Path, document, name: str = "policies.json") -> Path:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document, indent=2), encoding="utf-8")
    return path


def registry_rows() -> dict[str, int]:
    return {m._meta.label: m._default_manager.count() for m in apps.get_app_config("policies").get_models()}


def revisions() -> dict[str, int]:
    return dict(Policy.objects.values_list("payer__code", "revision"))


def payer(document: dict, code: str) -> dict:
    return next(p for p in document["payers"] if p["code"] == code)


def criterion(document: dict, code: str, key: str) -> dict:
    return next(c for c in payer(document, code)["policy"]["criteria"] if c["key"] == key)


def case(mm: float) -> dict:
    data = sample_case()
    data["clinical"]["imaging"]["ligamentum_flavum_mm"] = mm
    return data


@pytest.fixture
def exported(seeded) -> dict:
    return json.loads(export())


# --------------------------------------------------------------------------- round trip


def test_export_then_import_then_export_gives_the_same_bytes(seeded, tmp_path):
    first = export()
    before = registry_rows()
    code, out, err = import_file(write(tmp_path, first))
    assert (code, err) == (0, "")
    assert out.strip() == "No policy changed: no new version."
    assert export() == first
    assert registry_rows() == before  # no version, and no history row either


def test_it_imports_from_standard_input(exported, monkeypatch):
    document = copy.deepcopy(exported)
    criterion(document, "tricare", "spondylolisthesis")["value"] = 1
    monkeypatch.setattr("sys.stdin", StringIO(json.dumps(document)))
    code, out, err = import_file("-")
    assert (code, out.splitlines(), err) == (0, ["new version of tricare"], "")
    assert "import_policies -" in Policy.objects.get(payer__code="tricare").versions.get(revision=2).summary


def test_the_export_holds_every_payer_and_all_evidence_in_a_stable_order(exported):
    assert exported["format"] == "mild-policies/1"
    assert [p["code"] for p in exported["payers"]] == sorted(p["code"] for p in exported["payers"])
    assert [e["key"] for e in exported["evidence"]] == sorted(EvidenceSource.objects.values_list("key", flat=True))


def test_exporting_one_payer_holds_only_the_evidence_it_cites(seeded, tmp_path):
    document = json.loads(export("--payer", "tricare"))
    assert [p["code"] for p in document["payers"]] == ["tricare"]
    policy = payer(document, "tricare")["policy"]
    cited = {
        *policy["sources"],
        *(k for c in policy["criteria"] for k in c["citations"]),
        *(k for a in policy["appeal_levels"] for k in a["citations"]),
    }
    assert {e["key"] for e in document["evidence"]} == cited
    before = registry_rows()
    assert import_file(write(tmp_path, document))[0] == 0
    assert registry_rows() == before


def test_exporting_an_unknown_payer_exits_2(seeded):
    err = StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("export_policies", "--payer", "acme", stderr=err, stdout=StringIO())
    assert exit_info.value.code == 2
    assert err.getvalue().startswith("--payer: unknown payer 'acme'")


# --------------------------------------------------------------------------- a changed file


@pytest.fixture
def raised_threshold(exported, tmp_path) -> tuple[int, str, str]:
    """Medicare's ligamentum flavum threshold raised from 2.5 to 3.0 mm in an exported file."""
    document = copy.deepcopy(exported)
    criterion(document, "medicare", "ligamentum_flavum")["value"] = 3.0
    return import_file(write(tmp_path, document))


def test_a_changed_threshold_makes_a_new_version_of_that_policy_only(raised_threshold):
    code, out, err = raised_threshold
    assert (code, err) == (0, "")
    assert out.splitlines() == ["new version of medicare"]
    assert revisions() == {
        "commercial": 1,
        "ihs-prc": 1,
        "medicare": 2,
        "medicare-advantage": 1,
        "tricare": 1,
        "va-community-care": 1,
    }
    assert Criterion.objects.get(policy__payer__code="medicare", key="ligamentum_flavum").value == 3.0
    assert Criterion.objects.get(policy__payer__code="medicare-advantage", key="ligamentum_flavum").value == 2.5


def test_the_old_version_stays_in_policy_versions_and_in_history(raised_threshold):
    medicare = Policy.objects.get(payer__code="medicare")
    old, new = medicare.versions.get(revision=1), medicare.versions.get(revision=2)
    assert (
        next(c for c in old.snapshot["payer"]["policy"]["criteria"] if c["key"] == "ligamentum_flavum")["value"] == 2.5
    )
    assert (
        next(c for c in new.snapshot["payer"]["policy"]["criteria"] if c["key"] == "ligamentum_flavum")["value"] == 3.0
    )
    assert "criterion ligamentum_flavum value: 2.5 → 3.0" in new.summary.splitlines()
    history = Criterion.objects.get(policy=medicare, key="ligamentum_flavum").history.order_by(
        "-history_date", "-history_id"
    )
    assert [history[0].value, history[0].history_type] == [3.0, "~"]
    assert 2.5 in [h.value for h in history[1:]]


def test_the_next_check_over_the_api_uses_the_new_threshold_without_a_restart(seeded, client, exported, tmp_path):
    first = client.post("/api/v1/coverage/check", data=case(2.8), content_type="application/json").json()
    ligament = next(c for c in first["clinical"]["criteria"] if c["key"] == "ligamentum_flavum")
    assert (ligament["status"], first["policy"]["revision"]) == ("met", 1)

    document = copy.deepcopy(exported)
    criterion(document, "medicare", "ligamentum_flavum")["value"] = 3.0
    assert import_file(write(tmp_path, document))[0] == 0

    after = client.post("/api/v1/coverage/check", data=case(2.8), content_type="application/json").json()
    ligament = next(c for c in after["clinical"]["criteria"] if c["key"] == "ligamentum_flavum")
    assert (ligament["status"], after["policy"]["revision"], after["decision"]) == ("not_met", 2, "not_met")
    assert ligament["reason"].startswith("2.8 mm is below the 3 mm minimum")


def test_the_next_check_case_uses_the_new_threshold_without_a_restart(seeded, exported, tmp_path, capsys):
    path = write(tmp_path, case(2.8), "case.json")
    call_command("check_case", str(path))
    assert json.loads(capsys.readouterr().out)["decision"] == "meets_criteria"

    document = copy.deepcopy(exported)
    criterion(document, "medicare", "ligamentum_flavum")["value"] = 3.0
    assert import_file(write(tmp_path, document))[0] == 0

    call_command("check_case", str(path))
    determination = json.loads(capsys.readouterr().out)
    assert determination["decision"] == "not_met"
    assert determination["policy"]["revision"] == 2


def test_importing_the_changed_file_again_creates_nothing(exported, tmp_path):
    document = copy.deepcopy(exported)
    criterion(document, "medicare", "ligamentum_flavum")["value"] = 3.0
    path = write(tmp_path, document)
    assert import_file(path)[0] == 0
    before = registry_rows()
    code, out, _ = import_file(path)
    assert (code, out.strip()) == (0, "No policy changed: no new version.")
    assert registry_rows() == before


def test_changed_evidence_makes_a_new_version_of_every_policy_citing_it(exported, tmp_path):
    document = copy.deepcopy(exported)
    next(e for e in document["evidence"] if e["key"] == "nysipp-2024")["short"] = "NYSIPP Position Statement (revised)"
    code, out, _ = import_file(write(tmp_path, document))
    assert code == 0
    assert set(out.splitlines()) == {f"new version of {p}" for p in revisions()}  # every policy cites it
    medicare = Policy.objects.get(payer__code="medicare").versions.get(revision=2)
    assert medicare.snapshot["evidence"]["nysipp-2024"]["short"] == "NYSIPP Position Statement (revised)"


def test_a_removed_advisory_criterion_is_deleted_and_kept_in_history(exported, tmp_path):
    document = copy.deepcopy(exported)
    policy = payer(document, "commercial")["policy"]
    policy["criteria"] = [c for c in policy["criteria"] if c["key"] != "pain_severity"]
    assert import_file(write(tmp_path, document))[1].splitlines() == ["new version of commercial"]
    assert not Criterion.objects.filter(policy__payer__code="commercial", key="pain_severity").exists()
    assert Criterion.history.filter(key="pain_severity", history_type="-").count() == 1
    assert (
        "criterion pain_severity removed"
        in Policy.objects.get(payer__code="commercial").versions.get(revision=2).summary
    )


def test_a_new_payer_in_the_file_is_created_with_a_first_version(exported, tmp_path):
    document = copy.deepcopy(exported)
    new = copy.deepcopy(payer(document, "commercial"))
    new["code"], new["name"] = "acme-health", "Acme Health"
    document["payers"].append(new)
    code, out, _ = import_file(write(tmp_path, document))
    assert (code, out.splitlines()) == (0, ["created acme-health"])
    assert revisions()["acme-health"] == 1


# --------------------------------------------------------------------------- an invalid file


def broken(exported: dict) -> tuple[dict, list[str]]:
    """A document with six planted problems in three payers and the evidence, each field's path."""
    document = copy.deepcopy(exported)
    document["evidence"][0]["certainty"] = "X"
    medicare = payer(document, "medicare")["policy"]
    criterion(document, "medicare", "ligamentum_flavum")["path"] = "clinical.imaging.thickness_mm"
    criterion(document, "medicare", "spondylolisthesis")["operator"] = "at_most"
    criterion(document, "medicare", "symptom_duration")["value"] = "3"
    payer(document, "tricare")["policy"]["prior_authorization"]["review_reason"] = ""
    payer(document, "commercial")["policy"]["effective_date"] = "2025-13-01"
    index = {c["key"]: i for i, c in enumerate(medicare["criteria"])}
    at = "payers.{}.policy".format
    order = {p["code"]: i for i, p in enumerate(document["payers"])}
    paths = [
        "evidence.0.certainty",
        f"{at(order['medicare'])}.criteria.{index['ligamentum_flavum']}.path",
        f"{at(order['medicare'])}.criteria.{index['spondylolisthesis']}.operator",
        f"{at(order['medicare'])}.criteria.{index['symptom_duration']}.value",
        f"{at(order['tricare'])}.prior_authorization.review_reason",
        f"{at(order['commercial'])}.effective_date",
    ]
    return document, paths


def test_an_invalid_document_is_refused_naming_every_bad_field(exported):
    document, paths = broken(exported)
    with pytest.raises(ValidationError) as invalid:
        registry_import(document=document)
    assert sorted(invalid.value.message_dict) == sorted(paths)


def test_an_invalid_document_writes_nothing_even_where_it_is_valid(exported):
    document, _ = broken(exported)
    payer(document, "ihs-prc")["policy"]["title"] = "A valid new title"
    before = registry_rows()
    with pytest.raises(ValidationError):
        registry_import(document=document)
    assert registry_rows() == before
    assert Policy.objects.get(payer__code="ihs-prc").title != "A valid new title"


def test_import_policies_exits_2_with_one_line_per_problem(exported, tmp_path):
    document, paths = broken(exported)
    before = registry_rows()
    code, out, err = import_file(write(tmp_path, document))
    assert (code, out) == (2, "")
    assert "Traceback" not in err
    lines = err.splitlines()
    assert sorted(line.split(": ", 1)[0] for line in lines) == sorted(paths)
    assert any(line.endswith("unknown case field path 'clinical.imaging.thickness_mm'") for line in lines)
    assert registry_rows() == before


def test_several_problems_of_one_field_are_each_named(exported, tmp_path):
    document = copy.deepcopy(exported)
    criterion(document, "medicare", "ligamentum_flavum")["citations"] = ["nowhere-1", "nowhere-2"]
    code, _, err = import_file(write(tmp_path, document))
    assert code == 2
    assert [line.split(": ", 1)[1] for line in err.splitlines()] == [
        "unknown evidence key 'nowhere-1'",
        "unknown evidence key 'nowhere-2'",
    ]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (lambda c, p: c.update(key=["ligamentum_flavum"]), "criteria.2.key", "must be a slug"),
        (lambda c, p: c.update(operator=["gte"]), "criteria.2.operator", "unknown operator"),
        (lambda c, p: c.update(label="x" * 201), "criteria.2.label", "at most 200 characters"),
        (lambda c, p: c.update(reason_met="{actual:.1f} mm"), "criteria.2.reason_met", "no conversion or format"),
        (lambda c, p: p["prior_authorization"].update(notes=None), "prior_authorization.notes", "must be a text"),
        (lambda c, p: p.update(review_reason=None), "review_reason", "must be a text"),
        (
            lambda c, p: p["appeal_levels"][0].update(amount_in_controversy=1.234),
            "appeal_levels.0.amount_in_controversy",
            "decimal places",
        ),
        (lambda c, p: p["appeal_levels"][0].update(decided_by=None), "appeal_levels.0.decided_by", "must be a text"),
        (lambda c, p: p.update(code="N" * 101), "code", "at most 100 characters"),
    ],
)
def test_it_refuses_what_the_database_would_refuse_naming_the_field_without_a_traceback(
    exported, tmp_path, change, field, message
):
    document = copy.deepcopy(exported)
    medicare = payer(document, "medicare")["policy"]
    assert medicare["criteria"][2]["key"] == "ligamentum_flavum"
    change(medicare["criteria"][2], medicare)
    before = registry_rows()
    code, out, err = import_file(write(tmp_path, document))
    prefix = f"payers.{document['payers'].index(payer(document, 'medicare'))}.policy."
    assert (code, out) == (2, "")
    assert any(line.startswith(prefix + field + ": ") and message in line for line in err.splitlines()), err
    assert "Traceback" not in err
    assert registry_rows() == before


def test_it_refuses_an_evidence_key_listed_twice(exported, tmp_path):
    document = copy.deepcopy(exported)
    document["evidence"].append({**document["evidence"][0], "short": "Another"})
    code, _, err = import_file(write(tmp_path, document))
    assert code == 2
    assert err.splitlines() == [
        f"evidence.{len(document['evidence']) - 1}.key: duplicate evidence key {document['evidence'][0]['key']!r}"
    ]


def test_it_refuses_a_policy_without_a_contract_clinical_criterion(exported, tmp_path):
    document = copy.deepcopy(exported)
    policy = payer(document, "tricare")["policy"]
    policy["criteria"] = [c for c in policy["criteria"] if c["key"] != "symptoms"]
    code, _, err = import_file(write(tmp_path, document))
    assert code == 2
    assert err.splitlines() == [
        f"payers.{document['payers'].index(payer(document, 'tricare'))}.policy.criteria: the clinical criterion 'symptoms' is required"
    ]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("[1, 2]", "(root): must be a JSON object"),
        ('{"format": "mild-policies/1",', "(root): invalid JSON"),
        ("{}", "format: must be 'mild-policies/1'"),
    ],
)
def test_it_refuses_a_file_that_is_not_a_policy_document(seeded, tmp_path, text, line):
    code, out, err = import_file(write(tmp_path, text))
    assert (code, out) == (2, "")
    assert err.splitlines()[0].startswith(line)


def test_it_refuses_a_path_it_cannot_read(seeded, tmp_path):
    code, out, err = import_file(tmp_path / "nowhere.json")
    assert (code, out) == (2, "")
    assert err.startswith(f"{tmp_path / 'nowhere.json'}: cannot read the file")


def test_a_failure_midway_through_an_import_rolls_everything_back(exported, monkeypatch):
    document = copy.deepcopy(exported)
    for entry in document["payers"]:
        entry["policy"]["title"] += " (revised)"
    real = policies.services.policy_publish
    published: list[str] = []

    def fail_on_the_third(*, policy, **kwargs):
        published.append(policy.payer.code)
        if len(published) == 3:
            raise RuntimeError("disk full")
        return real(policy=policy, **kwargs)

    monkeypatch.setattr(policies.services, "policy_publish", fail_on_the_third)
    before = registry_rows()
    with pytest.raises(RuntimeError):
        registry_import(document=document)
    assert registry_rows() == before
    assert not Policy.objects.filter(title__endswith="(revised)").exists()
    assert PolicyVersion.objects.count() == 6
