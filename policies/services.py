"""Writes to the registry: publishing a policy version, importing a policy document, seeding."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import django.dispatch
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Manager, Model

from policies import selectors
from policies.models import (
    AppealLevel,
    ClaimRequirement,
    CoverageParagraph,
    CoverageParagraphClaim,
    Criterion,
    EvidenceClaim,
    EvidenceSource,
    Payer,
    PayerContact,
    Policy,
    PolicyVersion,
    PriorAuthRule,
    RebuttalParagraph,
    RebuttalParagraphClaim,
    RegistryState,
)
from policies.validation import document_errors, letters_document_errors

# Sent (on commit) with the new PolicyVersion whenever a policy's published content changes.
policy_published = django.dispatch.Signal()


@dataclass
class ImportResult:
    created: list[str] = field(default_factory=list)  # payer codes with a first version
    changed: list[str] = field(default_factory=list)  # payer codes with a new version
    unchanged: list[str] = field(default_factory=list)
    versions: list[PolicyVersion] = field(default_factory=list)


def errors_by_field(errors: list[tuple[str, str]]) -> dict[str, list[str]]:
    """(path, message) pairs as a ValidationError dict; a field may have several problems (two
    unknown citations, two bad conditions), and a plain dict of one message each would drop all but the last."""
    by_field: dict[str, list[str]] = {}
    for path, message in errors:
        by_field.setdefault(path, []).append(message)
    return by_field


def registry_bump() -> None:
    """Tell every process that its cached checker snapshot is stale."""
    if not RegistryState.objects.filter(pk=1).update(generation=F("generation") + 1):
        RegistryState.objects.get_or_create(pk=1, defaults={"generation": 1})


def snapshot_changes(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    """Human-readable lines naming what differs between two snapshots of one policy."""
    if old is None:
        return ["first version"]
    lines: list[str] = []
    old_p, new_p = old["payer"]["policy"], new["payer"]["policy"]
    for name in ("code", "title", "version", "effective_date", "review_status", "review_reason", "sources"):
        if old_p.get(name) != new_p.get(name):
            lines.append(f"policy {name}: {old_p.get(name)!r} → {new_p.get(name)!r}")
    old_c = {c["key"]: c for c in old_p.get("criteria", [])}
    new_c = {c["key"]: c for c in new_p.get("criteria", [])}
    for key in sorted(new_c.keys() - old_c.keys()):
        lines.append(f"criterion {key} added")
    for key in sorted(old_c.keys() - new_c.keys()):
        lines.append(f"criterion {key} removed")
    for key in sorted(new_c.keys() & old_c.keys()):
        for name, value in new_c[key].items():
            if old_c[key].get(name) != value:
                lines.append(f"criterion {key} {name}: {old_c[key].get(name)!r} → {value!r}")
    for name in ("claim_requirements", "prior_authorization", "appeal_levels"):
        if old_p.get(name) != new_p.get(name):
            lines.append(f"{name.replace('_', ' ')} changed")
    if old["payer"].get("name") != new["payer"].get("name"):
        lines.append("payer name changed")
    if old.get("evidence") != new.get("evidence"):
        lines.append("cited evidence changed")
    return lines


def policy_publish(*, policy: Policy, by: AbstractBaseUser | None = None, summary: str = "") -> PolicyVersion | None:
    """Freeze the policy's current records as a new version if they differ from the last one."""
    with transaction.atomic():
        policy = Policy.objects.select_for_update().get(pk=policy.pk)
        policy = selectors.policy_queryset().get(pk=policy.pk)
        snapshot = json.loads(json.dumps(selectors.policy_snapshot(policy), default=str))
        last = policy.versions.order_by("-revision").first()
        if last is not None and last.snapshot == snapshot:
            return None
        changes = snapshot_changes(last.snapshot if last else None, snapshot)
        revision = (last.revision if last else 0) + 1
        version = PolicyVersion.objects.create(
            policy=policy,
            revision=revision,
            snapshot=snapshot,
            summary="\n".join(filter(None, [summary, *changes])),
            created_by=by if getattr(by, "pk", None) else None,
        )
        Policy.objects.filter(pk=policy.pk).update(revision=revision)
        registry_bump()
        transaction.on_commit(lambda: policy_published.send(sender=PolicyVersion, version=version, previous=last))
        return version


def policies_publish_citing(*, evidence: EvidenceSource, by: AbstractBaseUser | None = None) -> list[PolicyVersion]:
    """An edited evidence record changes every policy that cites it."""
    ids = set(evidence.policies.values_list("pk", flat=True))
    ids |= set(evidence.criteria.values_list("policy_id", flat=True))
    ids |= set(evidence.appeal_levels.values_list("policy_id", flat=True))
    versions = [
        policy_publish(policy=p, by=by, summary=f"evidence {evidence.key} edited")
        for p in Policy.objects.filter(pk__in=ids)
    ]
    return [v for v in versions if v is not None]


# ---------------------------------------------------------------------------------------------
# Import


def _assign(obj: Model, values: dict[str, Any]) -> bool:
    """Set fields that differ; True when anything changed (so unchanged rows get no history)."""
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed


def _save_if(obj: Model, values: dict[str, Any]) -> None:
    if obj.pk is None or _assign(obj, values):
        _assign(obj, values)
        obj.full_clean(validate_unique=False, validate_constraints=False)
        obj.save()


def _set_m2m(manager: Manager[EvidenceSource], keys: list[str], evidence: dict[str, EvidenceSource]) -> None:
    if sorted(e.key for e in manager.all()) != sorted(keys):
        manager.set([evidence[k] for k in keys])


def _decimal(v: Any) -> Decimal | None:
    return None if v is None else Decimal(str(v))


def _apply_payer(entry: dict[str, Any], evidence: dict[str, EvidenceSource]) -> Policy:
    payer = Payer.objects.filter(code=entry["code"]).first() or Payer(code=entry["code"])
    _save_if(payer, {"name": entry["name"], "program": entry["program"]})
    p = entry["policy"]
    policy = Policy.objects.filter(payer=payer).first() or Policy(payer=payer)
    _save_if(
        policy,
        {
            "code": p["code"],
            "title": p["title"],
            "version": str(p["version"]),
            "effective_date": dt.date.fromisoformat(p["effective_date"]),
            "review_status": p.get("review_status", "unverified"),
            "review_reason": p.get("review_reason", ""),
        },
    )
    _set_m2m(policy.sources, p.get("sources", []), evidence)

    existing = {c.key: c for c in policy.criteria.all()}
    for order, c in enumerate(p.get("criteria", [])):
        crit = existing.pop(c["key"], None) or Criterion(policy=policy, key=c["key"])
        _save_if(
            crit,
            {
                "order": order,
                "section": c["section"],
                "label": c["label"],
                "path": c["path"],
                "operator": c["operator"],
                "value": c.get("value"),
                "required": c.get("required", True),
                "reason_met": c["reason_met"],
                "reason_not_met": c["reason_not_met"],
                "reason_missing": c["reason_missing"],
            },
        )
        _set_m2m(crit.citations, c.get("citations", []), evidence)
    for stale in existing.values():
        stale.delete()

    wanted = [(r["text"], r.get("fallback", "")) for r in p.get("claim_requirements", [])]
    have = [(r.text, r.fallback) for r in policy.claim_requirements.order_by("order", "id")]
    if wanted != have:
        policy.claim_requirements.all().delete()
        for order, (text, fallback) in enumerate(wanted):
            ClaimRequirement.objects.create(policy=policy, order=order, text=text, fallback=fallback)

    pa = p.get("prior_authorization")
    if pa is None:
        PriorAuthRule.objects.filter(policy=policy).delete()
    else:
        rule = PriorAuthRule.objects.filter(policy=policy).first() or PriorAuthRule(policy=policy)
        _save_if(
            rule,
            {
                "required": bool(pa.get("required")),
                "standard_decision_days": pa.get("standard_decision_days"),
                "expedited_decision_hours": pa.get("expedited_decision_hours"),
                "notes": pa.get("notes", ""),
                "review_status": pa.get("review_status", "unverified"),
                "review_reason": pa.get("review_reason", ""),
            },
        )

    levels = {a.order: a for a in policy.appeal_levels.all()}
    for a in p.get("appeal_levels", []):
        level = levels.pop(a["order"], None) or AppealLevel(policy=policy, order=a["order"])
        _save_if(
            level,
            {
                "name": a["name"],
                "decided_by": a.get("decided_by", ""),
                "filing_deadline_days": a.get("filing_deadline_days"),
                "decision_deadline_days": a.get("decision_deadline_days"),
                "expedited_decision_hours": a.get("expedited_decision_hours"),
                "amount_in_controversy": _decimal(a.get("amount_in_controversy")),
                "notes": a.get("notes", ""),
                "provider_files": a.get("provider_files", True),
                "review_status": a.get("review_status", "unverified"),
                "review_reason": a.get("review_reason", ""),
            },
        )
        _set_m2m(level.citations, a.get("citations", []), evidence)
    for stale in levels.values():
        stale.delete()
    return policy


def registry_import(*, document: Any, by: AbstractBaseUser | None = None, summary: str = "import") -> ImportResult:
    """Load a policy document; each policy whose content changed gets a new version.

    Raises ValidationError naming every bad field (dotted JSON path) and writes nothing then.
    """
    errors = document_errors(document, known_evidence=set(EvidenceSource.objects.values_list("key", flat=True)))
    if errors:
        raise ValidationError(errors_by_field(errors))
    result = ImportResult()
    with transaction.atomic():
        evidence = {e.key: e for e in EvidenceSource.objects.all()}
        for entry in document.get("evidence", []):
            ev = evidence.get(entry["key"]) or EvidenceSource(key=entry["key"])
            _save_if(ev, {k: entry.get(k, "") for k in ("kind", "certainty", "short", "citation", "url", "note")})
            evidence[ev.key] = ev
        touched = []
        for entry in document.get("payers", []):
            touched.append(_apply_payer(entry, evidence))
        # Policies not in the document may cite evidence the document changed.
        others = Policy.objects.exclude(pk__in=[p.pk for p in touched])
        for policy in [*touched, *others]:
            had_version = policy.versions.exists()
            version = policy_publish(policy=policy, by=by, summary=summary)
            code = policy.payer.code
            if version is None:
                if policy in touched:
                    result.unchanged.append(code)
            else:
                result.versions.append(version)
                (result.changed if had_version else result.created).append(code)
    return result


def registry_seed(*, reset: bool = False, path: Path = selectors.SEED_FILE) -> ImportResult:
    """Load the shipped policies. Records that already exist are kept as admins left them, unless
    reset, which imports the shipped content as a new version of every policy that differs."""
    document = json.loads(path.read_text(encoding="utf-8"))
    if not reset:
        have_payers = set(Payer.objects.values_list("code", flat=True))
        have_evidence = set(EvidenceSource.objects.values_list("key", flat=True))
        document = {
            **document,
            "evidence": [e for e in document.get("evidence", []) if e.get("key") not in have_evidence],
            "payers": [p for p in document.get("payers", []) if p.get("code") not in have_payers],
        }
    return registry_import(document=document, summary="seed_policies" + (" --reset" if reset else ""))


# ---------------------------------------------------------------------------------------------
# Letter texts


@dataclass
class LettersSeedResult:
    created: list[str] = field(default_factory=list)  # "claim ps-safety", "rebuttal investigational", ...
    updated: list[str] = field(default_factory=list)


def _link_claims(
    paragraph: CoverageParagraph | RebuttalParagraph,
    link_model: type[CoverageParagraphClaim] | type[RebuttalParagraphClaim],
    keys: list[str],
    claims: dict[str, EvidenceClaim],
) -> None:
    have = [link.claim.key for link in paragraph.claim_links.select_related("claim").order_by("order", "id")]
    if have != keys:
        paragraph.claim_links.all().delete()
        link_model.objects.bulk_create(
            [link_model(paragraph=paragraph, claim=claims[k], order=i) for i, k in enumerate(keys)]
        )


def letters_import(*, document: Any, reset: bool = False) -> LettersSeedResult:
    """Load letter texts by key. Records that exist are kept as admins left them unless reset,
    which overwrites them with the document's content (their history keeps the old text).

    Raises ValidationError naming every bad field (dotted JSON path) and writes nothing then.
    """
    errors = letters_document_errors(
        document,
        evidence_certainty=dict(EvidenceSource.objects.values_list("key", "certainty")),
        payer_programs=dict(Payer.objects.values_list("code", "program")),
        known_claims=set(EvidenceClaim.objects.values_list("key", flat=True)),
    )
    if errors:
        raise ValidationError(errors_by_field(errors))
    result = LettersSeedResult()
    payers = {p.code: p for p in Payer.objects.all()}

    def load(model: type[Model], label: str, entry: dict[str, Any], values: dict[str, Any]) -> Model | None:
        obj = model.objects.filter(key=entry["key"]).first()
        if obj is not None and not reset:
            return None
        is_new = obj is None
        obj = obj or model(key=entry["key"])
        if _assign(obj, values) or is_new:
            obj.full_clean(validate_unique=False, validate_constraints=False)
            obj.save()
            (result.created if is_new else result.updated).append(f"{label} {obj.key}")
        return obj

    with transaction.atomic():
        evidence = {e.key: e for e in EvidenceSource.objects.all()}
        for c in document.get("claims", []):
            claim = load(
                EvidenceClaim,
                "claim",
                c,
                {
                    "topic": c["topic"],
                    "text": c["text"],
                    "in_evidence_summary": c.get("in_evidence_summary", False),
                    "order": c.get("order", 0),
                    "review_status": c.get("review_status", "unverified"),
                    "review_reason": c.get("review_reason", ""),
                },
            )
            if claim is not None:
                _set_m2m(claim.citations, c["citations"], evidence)
        claims = {c.key: c for c in EvidenceClaim.objects.all()}
        common = ("order", "heading", "lead", "closing")
        for p in document.get("coverage_paragraphs", []):
            values = {
                name: p.get(name, 0 if name == "order" else "")
                for name in (*common, "patient_sentence", "patient_fallback")
            }
            paragraph = load(
                CoverageParagraph,
                "coverage paragraph",
                p,
                {**values, "program": p["program"], "payer": payers.get(p.get("payer"))},
            )
            if paragraph is not None:
                _link_claims(paragraph, CoverageParagraphClaim, p.get("claims", []), claims)
        for p in document.get("rebuttals", []):
            values = {name: p.get(name, 0 if name == "order" else "") for name in common}
            values |= {
                "category": p["category"],
                "program": p.get("program", ""),
                "payer": payers.get(p.get("payer")),
                "cites_patient_evidence": p.get("cites_patient_evidence", False),
                "lists_enclosures": p.get("lists_enclosures", False),
            }
            paragraph = load(RebuttalParagraph, "rebuttal", p, values)
            if paragraph is not None:
                _link_claims(paragraph, RebuttalParagraphClaim, p.get("claims", []), claims)
    return result


def letters_seed(*, reset: bool = False, path: Path = selectors.LETTERS_SEED_FILE) -> LettersSeedResult:
    """Load the shipped letter texts (after the policies: they cite its evidence and payers)."""
    return letters_import(document=json.loads(path.read_text(encoding="utf-8")), reset=reset)


# ---------------------------------------------------------------------------------------------
# Corrections of shipped content reaching databases seeded before them (issue 11)
#
# seed_policies keeps what admins edited. A correction of the shipped content (domain.md's
# corrections of 2026-12-01) must still reach a database seeded from the old content. So each
# shipped record is compared with the version shipped before (policies/seed/shipped/): a record
# still exactly as shipped then was never edited, and takes the new content; an edited one is left
# as the admin left it (its history shows both). Records new in the shipped content are added.

SHIPPED_BEFORE = selectors.SEED_FILE.parent / "shipped"


def _comparable(value: Any) -> Any:
    """Citation lists compare as sets: the export lists them sorted, the seed in its own order."""
    if isinstance(value, dict):
        return {
            k: sorted(v) if k in ("citations", "sources") and isinstance(v, list) else _comparable(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return value


def _same(a: Any, b: Any) -> bool:
    return json.dumps(_comparable(a), sort_keys=True, default=str) == json.dumps(
        _comparable(b), sort_keys=True, default=str
    )


def _merge_records(have: list[dict], old: list[dict], new: list[dict], key: str) -> list[dict]:
    """The records to keep: unedited ones replaced by the new shipped content, edited ones and the
    admins' own kept, new shipped ones added, and unedited ones the new content drops removed."""
    old_by = {r[key]: r for r in old}
    new_by = {r[key]: r for r in new}
    out = []
    for r in have:
        k = r[key]
        if k in old_by and _same(r, old_by[k]):
            if k in new_by:
                out.append(new_by[k])
            continue  # unedited and no longer shipped
        out.append(r)
    have_keys = {r[key] for r in have}
    for k, r in new_by.items():
        if k not in have_keys and k not in old_by:
            # Placed after the record it follows in the shipped order, so advisory rows stay beside theirs.
            position = [x[key] for x in new].index(k)
            before = [x[key] for x in new][:position]
            at = max((i + 1 for i, x in enumerate(out) if x[key] in before), default=len(out))
            out.insert(at, r)
    return out


def registry_corrections(*, before: Path | None = None, path: Path = selectors.SEED_FILE) -> ImportResult:
    """Bring records still as shipped `before` to the shipped content of `path`; see above."""
    before = before or SHIPPED_BEFORE / "policies-2026-11-25.json"
    old_doc = json.loads(before.read_text(encoding="utf-8"))
    new_doc = json.loads(path.read_text(encoding="utf-8"))
    old_payers = {p["code"]: p for p in old_doc["payers"]}
    have_evidence = {e.key: selectors.evidence_entry(e) for e in EvidenceSource.objects.all()}
    old_evidence = {e["key"]: e for e in old_doc["evidence"]}
    evidence = [
        e
        for e in new_doc["evidence"]
        if e["key"] not in have_evidence
        or (
            e["key"] in old_evidence
            and _same({k: have_evidence[e["key"]].get(k, "") for k in old_evidence[e["key"]]}, old_evidence[e["key"]])
        )
    ]
    payers = []
    for new in new_doc["payers"]:
        old = old_payers.get(new["code"])
        policy = Policy.objects.filter(payer__code=new["code"]).first()
        if policy is None or old is None:
            continue  # a payer new to this database: registry_seed adds it whole
        have = selectors.payer_entry(policy)
        merged = json.loads(json.dumps(have))
        if have["name"] == old["name"]:
            merged["name"] = new["name"]
        hp, op, np_ = have["policy"], old["policy"], new["policy"]
        mp = merged["policy"]
        mp["criteria"] = _merge_records(hp["criteria"], op["criteria"], np_["criteria"], "key")
        levels = [{**a, "provider_files": a.get("provider_files", True)} for a in hp["appeal_levels"]]
        old_levels = [{**a, "provider_files": a.get("provider_files", True)} for a in op["appeal_levels"]]
        new_levels = [{**a, "provider_files": a.get("provider_files", True)} for a in np_["appeal_levels"]]
        mp["appeal_levels"] = _merge_records(levels, old_levels, new_levels, "order")
        if (
            hp.get("prior_authorization") is not None
            and op.get("prior_authorization") is not None
            and _same(hp["prior_authorization"], op["prior_authorization"])
        ):
            mp["prior_authorization"] = np_.get("prior_authorization")
        if not _same(merged, have):
            payers.append(merged)
    if not evidence and not payers:
        return ImportResult()
    # Evidence the new content cites must exist before the payers that cite it are checked.
    return registry_import(
        document={"format": new_doc.get("format"), "evidence": evidence, "payers": payers},
        summary="seed_policies: corrections of 2026-12-01",
    )


def _claim_entry(c: EvidenceClaim) -> dict[str, Any]:
    return {
        "key": c.key,
        "topic": c.topic,
        "text": c.text,
        "in_evidence_summary": c.in_evidence_summary,
        "order": c.order,
        "review_status": c.review_status,
        "review_reason": c.review_reason,
        "citations": sorted(e.key for e in c.citations.all()),
    }


def _paragraph_entry(p: CoverageParagraph | RebuttalParagraph, *names: str) -> dict[str, Any]:
    out = {n: getattr(p, n) for n in ("key", "order", "heading", "lead", "closing", *names)}
    out["program"] = p.program
    out["payer"] = p.payer.code if p.payer_id else None
    out["claims"] = [link.claim.key for link in p.claim_links.select_related("claim").order_by("order", "id")]
    return out


def letters_corrections(*, before: Path | None = None, path: Path = selectors.LETTERS_SEED_FILE) -> LettersSeedResult:
    """Letter texts still as shipped `before` take the shipped content of `path`; edited ones stay."""
    before = before or SHIPPED_BEFORE / "letters-2026-11-25.json"
    old_doc = json.loads(before.read_text(encoding="utf-8"))
    new_doc = json.loads(path.read_text(encoding="utf-8"))

    def unedited(
        model: type[EvidenceClaim | CoverageParagraph | RebuttalParagraph],
        section: str,
        entry_of: Callable[[Any], dict[str, Any]],
    ) -> list[dict[str, Any]]:
        old = {e["key"]: e for e in old_doc.get(section, [])}
        out = []
        for e in new_doc.get(section, []):
            obj = model.objects.filter(key=e["key"]).first()
            if obj is None or e["key"] not in old:
                continue
            have = entry_of(obj)
            shipped = {k: old[e["key"]].get(k, have.get(k)) for k in have}
            if section == "claims":
                shipped["citations"] = sorted(shipped["citations"])
            if _same(have, shipped) and not _same(have, {k: e.get(k, have.get(k)) for k in have}):
                out.append(e)
        return out

    claims = unedited(EvidenceClaim, "claims", _claim_entry)
    coverage = unedited(
        CoverageParagraph, "coverage_paragraphs", lambda p: _paragraph_entry(p, "patient_sentence", "patient_fallback")
    )
    rebuttals = unedited(
        RebuttalParagraph,
        "rebuttals",
        lambda p: _paragraph_entry(p, "category", "cites_patient_evidence", "lists_enclosures"),
    )
    # New claims first (a corrected paragraph may cite them), then the corrected records.
    result = letters_import(document=new_doc, reset=False)
    if claims or coverage or rebuttals:
        corrected = letters_import(
            document={
                "format": new_doc.get("format"),
                "claims": claims,
                "coverage_paragraphs": coverage,
                "rebuttals": rebuttals,
            },
            reset=True,
        )
        result.updated += corrected.updated
    return result


def contacts_seed(*, path: Path | None = None) -> list[str]:
    """The payer directory's shipped desks (policies/seed/contacts.json), added where missing; an
    admin's entries and edits are kept. No phone or fax number is shipped: staff fill them in."""
    path = path or selectors.SEED_FILE.parent / "contacts.json"
    created = []
    with transaction.atomic():
        for entry in json.loads(path.read_text(encoding="utf-8"))["contacts"]:
            payer = Payer.objects.filter(code=entry["payer"]).first()
            if payer is None or PayerContact.objects.filter(key=entry["key"]).exists():
                continue
            contact = PayerContact(payer=payer, **{k: v for k, v in entry.items() if k != "payer"})
            contact.full_clean()
            contact.save()
            created.append(contact.key)
    return created
