"""Reads of the registry, in the JSON shape of docs/policy-format.md."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from django.db import connection
from django.db.models import Manager, OuterRef, Prefetch, Q, QuerySet, Subquery

from policies.models import (
    AppealLevel,
    CoverageParagraph,
    CoverageParagraphClaim,
    Criterion,
    EvidenceClaim,
    EvidenceSource,
    Payer,
    Policy,
    PolicyVersion,
    RebuttalParagraph,
    RebuttalParagraphClaim,
    RegistryState,
)

FORMAT = "mild-policies/1"

Paragraph = TypeVar("Paragraph", CoverageParagraph, RebuttalParagraph)


def evidence_entry(ev: EvidenceSource) -> dict[str, Any]:
    return {
        "key": ev.key,
        "kind": ev.kind,
        "certainty": ev.certainty,
        "short": ev.short,
        "citation": ev.citation,
        "url": ev.url,
        "note": ev.note,
    }


def _keys(manager: Manager[EvidenceSource]) -> list[str]:
    return sorted(ev.key for ev in manager.all())


def _number(v: Decimal | None) -> int | float | None:
    if v is None:
        return None
    return int(v) if v == v.to_integral_value() else float(v)


def policy_queryset() -> QuerySet[Policy]:
    return Policy.objects.select_related("payer", "prior_authorization").prefetch_related(
        "sources",
        Prefetch("criteria", queryset=Criterion.objects.order_by("order", "id").prefetch_related("citations")),
        "claim_requirements",
        Prefetch("appeal_levels", queryset=AppealLevel.objects.order_by("order").prefetch_related("citations")),
    )


def payer_entry(policy: Policy) -> dict[str, Any]:
    """One payer with its policy, exactly as exported and imported."""
    try:
        pa = policy.prior_authorization
    except Policy.prior_authorization.RelatedObjectDoesNotExist:
        pa = None
    return {
        "code": policy.payer.code,
        "name": policy.payer.name,
        "program": policy.payer.program,
        "policy": {
            "code": policy.code,
            "title": policy.title,
            "version": policy.version,
            "effective_date": policy.effective_date.isoformat(),
            "review_status": policy.review_status,
            "review_reason": policy.review_reason,
            "sources": _keys(policy.sources),
            "criteria": [
                {
                    "key": c.key,
                    "section": c.section,
                    "label": c.label,
                    "path": c.path,
                    "operator": c.operator,
                    "value": c.value,
                    "required": c.required,
                    "reason_met": c.reason_met,
                    "reason_not_met": c.reason_not_met,
                    "reason_missing": c.reason_missing,
                    "citations": _keys(c.citations),
                }
                for c in policy.criteria.all()
            ],
            "claim_requirements": [
                {"text": r.text, "fallback": r.fallback}
                for r in sorted(policy.claim_requirements.all(), key=lambda r: (r.order, r.id))
            ],
            "prior_authorization": None
            if pa is None
            else {
                "required": pa.required,
                "standard_decision_days": pa.standard_decision_days,
                "expedited_decision_hours": pa.expedited_decision_hours,
                "notes": pa.notes,
                "review_status": pa.review_status,
                "review_reason": pa.review_reason,
            },
            "appeal_levels": [
                {
                    "order": a.order,
                    "name": a.name,
                    "decided_by": a.decided_by,
                    "filing_deadline_days": a.filing_deadline_days,
                    "decision_deadline_days": a.decision_deadline_days,
                    "expedited_decision_hours": a.expedited_decision_hours,
                    "amount_in_controversy": _number(a.amount_in_controversy),
                    "notes": a.notes,
                    "review_status": a.review_status,
                    "review_reason": a.review_reason,
                    "citations": _keys(a.citations),
                    # Only when unticked, so that snapshots of every other level stay as they were.
                    **({"provider_files": False} if not a.provider_files else {}),
                }
                for a in policy.appeal_levels.all()
            ],
        },
    }


def cited_keys(entry: dict[str, Any]) -> set[str]:
    policy = entry["policy"]
    keys = set(policy.get("sources", []))
    for c in policy.get("criteria", []):
        keys.update(c.get("citations", []))
    for a in policy.get("appeal_levels", []):
        keys.update(a.get("citations", []))
    return keys


def policy_snapshot(policy: Policy, evidence: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """What a PolicyVersion stores: the payer entry and the evidence it cites."""
    entry = payer_entry(policy)
    if evidence is None:
        evidence = {ev.key: evidence_entry(ev) for ev in EvidenceSource.objects.filter(key__in=cited_keys(entry))}
    return {"payer": entry, "evidence": {k: evidence[k] for k in sorted(cited_keys(entry)) if k in evidence}}


def export_document(*, payer_code: str | None = None) -> dict[str, Any]:
    policies = policy_queryset().order_by("payer__code")
    if payer_code is not None:
        policies = policies.filter(payer__code=payer_code)
    payers = [payer_entry(p) for p in policies]
    if payer_code is None:
        evidence = EvidenceSource.objects.order_by("key")
    else:
        keys = set().union(*(cited_keys(e) for e in payers)) if payers else set()
        evidence = EvidenceSource.objects.filter(key__in=keys).order_by("key")
    return {"format": FORMAT, "evidence": [evidence_entry(ev) for ev in evidence], "payers": payers}


def payer_codes() -> list[str]:
    return list(Payer.objects.order_by("code").values_list("code", flat=True))


def latest_versions() -> list[PolicyVersion]:
    """The published (latest) version of every policy."""
    top = PolicyVersion.objects.filter(policy=OuterRef("policy")).order_by("-revision").values("revision")[:1]
    return list(PolicyVersion.objects.filter(revision=Subquery(top)).select_related("policy__payer"))


def registry_generation() -> int:
    # Read on every coverage check (policies/snapshot.py): one plain SELECT, because building the
    # ORM query costs about ten times the query itself, more than the rest of the check
    # (bench/api_latency.py).
    meta, quote = RegistryState._meta, connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(  # the one row is pk 1: no parameters to bind
            f"SELECT {quote(meta.get_field('generation').column)} FROM {quote(meta.db_table)} "
            f"WHERE {quote(meta.pk.column)} = 1"
        )
        row = cursor.fetchone()
    return (row[0] if row else None) or 0


SEED_FILE = Path(__file__).resolve().parent / "seed" / "policies.json"


def shipped_snapshots(path: Path = SEED_FILE) -> list[dict[str, Any]]:
    """Snapshots of the shipped policies, straight from the seed file (no database)."""
    document = json.loads(path.read_text(encoding="utf-8"))
    evidence = {e["key"]: e for e in document.get("evidence", [])}
    return [
        {"payer": entry, "evidence": {k: evidence[k] for k in sorted(cited_keys(entry)) if k in evidence}}
        for entry in document.get("payers", [])
    ]


# ---------------------------------------------------------------------------------------------
# Letter texts

LETTERS_SEED_FILE = Path(__file__).resolve().parent / "seed" / "letters.json"


def _with_claims(
    queryset: QuerySet[Paragraph], link_model: type[CoverageParagraphClaim] | type[RebuttalParagraphClaim]
) -> QuerySet[Paragraph]:
    links = link_model.objects.select_related("claim").prefetch_related("claim__citations").order_by("order", "id")
    return queryset.prefetch_related(Prefetch("claim_links", queryset=links))


def coverage_paragraphs_for(payer: Payer) -> list[CoverageParagraph]:
    """The payer's own coverage paragraphs if it has any, else its program's."""
    rows = list(
        _with_claims(CoverageParagraph.objects.filter(program=payer.program), CoverageParagraphClaim)
        .filter(Q(payer=payer) | Q(payer__isnull=True))
        .order_by("order", "key")
    )
    own = [p for p in rows if p.payer_id == payer.pk]
    return own or [p for p in rows if p.payer_id is None]


def rebuttal_paragraphs_for(payer: Payer, category: str) -> list[RebuttalParagraph]:
    """The most specific rebuttals of a denial category: the payer's, else its program's, else the general ones."""
    rows = list(
        _with_claims(RebuttalParagraph.objects.filter(category=category), RebuttalParagraphClaim)
        .filter(Q(payer=payer) | Q(payer__isnull=True, program__in=[payer.program, ""]))
        .order_by("order", "key")
    )
    for tier in (
        [p for p in rows if p.payer_id == payer.pk],
        [p for p in rows if p.payer_id is None and p.program == payer.program],
        [p for p in rows if p.payer_id is None and p.program == ""],
    ):
        if tier:
            return tier
    return []


def evidence_summary_claims() -> list[EvidenceClaim]:
    return list(
        EvidenceClaim.objects.filter(in_evidence_summary=True).prefetch_related("citations").order_by("order", "key")
    )
