"""The payer scorecard (issue 13): per payer and year, the eight measures CMS-0057-F makes payers
publish, computed from the practice's own requests, beside the figures the payer published
(PublishedPayerMetrics, admin-entered with URL and date), and the decision-clock breaches for the
payers whose prior-authorization rule sets a clock (PriorAuthRule: standard days, expedited hours —
data, not literals here).

Measures (share of decided requests of that kind; a pend is not a decision):
1. standard approved %, 2. standard denied %, 3. approved after appeal % (denied, then approved at
an appeal level), 4. approved after an extended review % (the payer pended it, then approved),
5. expedited approved %, 6. expedited denied %, 7. standard average and median hours to decision,
8. expedited average and median hours to decision — from first sending to the first final answer.
"""

from __future__ import annotations

import datetime as dt
import statistics
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from policies.models import PriorAuthRule
from priorauth.models import AuthorizationRequest, PayerDecision, PublishedPayerMetrics

MEASURES: list[tuple[str, str, str]] = [
    ("standard_approved_pct", "Standard requests approved", "%"),
    ("standard_denied_pct", "Standard requests denied", "%"),
    ("approved_after_appeal_pct", "Approved after appeal", "%"),
    ("approved_after_extension_pct", "Approved after an extended review", "%"),
    ("expedited_approved_pct", "Expedited requests approved", "%"),
    ("expedited_denied_pct", "Expedited requests denied", "%"),
    ("standard_avg_hours", "Standard: average time to decision", "h"),
    ("standard_median_hours", "Standard: median time to decision", "h"),
    ("expedited_avg_hours", "Expedited: average time to decision", "h"),
    ("expedited_median_hours", "Expedited: median time to decision", "h"),
]


def _pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def payer_scorecard(*, requests: QuerySet[AuthorizationRequest], year: int) -> list[dict[str, Any]]:
    """One row per payer with requests first sent in `year` (the practice's local calendar year)."""
    start = timezone.make_aware(dt.datetime(year, 1, 1))
    end = timezone.make_aware(dt.datetime(year + 1, 1, 1))
    in_year = requests.filter(first_sent_at__gte=start, first_sent_at__lt=end)
    sent = {
        pk: (payer_id, code, name, expedited, first_sent_at)
        for pk, payer_id, code, name, expedited, first_sent_at in in_year.values_list(
            "pk", "payer_id", "payer__code", "payer__name", "expedited", "first_sent_at"
        )
    }
    first_final: dict[int, tuple[str, dt.datetime]] = {}
    pended: set[int] = set()
    appeal_approved: set[int] = set()
    for request_id, appeal_id, decision, received_at in (
        # A subquery, not a list of ids: SQLite refuses more than 32,766 parameters in one statement.
        PayerDecision.objects.filter(request__in=in_year.values("pk"))
        .order_by("received_at", "id")
        .values_list("request_id", "appeal_id", "decision", "received_at")
    ):
        if appeal_id is None and decision == PayerDecision.Kind.PENDED:
            pended.add(request_id)
        elif appeal_id is None:
            first_final.setdefault(request_id, (decision, received_at))
        elif decision == PayerDecision.Kind.APPROVED:
            appeal_approved.add(request_id)

    rules = {
        r.policy.payer_id: r
        for r in PriorAuthRule.objects.select_related("policy").filter(
            policy__payer_id__in={v[0] for v in sent.values()}
        )
    }
    published = {
        m.payer_id: m
        for m in PublishedPayerMetrics.objects.filter(year=year, payer_id__in={v[0] for v in sent.values()})
    }
    rows: dict[str, dict[str, Any]] = {}
    for pk, (payer_id, code, name, expedited, first_sent_at) in sent.items():
        row = rows.setdefault(
            code,
            {
                "payer": code,
                "payer_name": name,
                "payer_id": payer_id,
                "year": year,
                "requests": 0,
                "std": {"decided": 0, "approved": 0, "denied": 0, "hours": []},
                "exp": {"decided": 0, "approved": 0, "denied": 0, "hours": []},
                "after_appeal": 0,
                "after_extension": 0,
                "breaches": 0,
                "clock_bound": 0,
            },
        )
        row["requests"] += 1
        if pk not in first_final:
            continue
        decision, received_at = first_final[pk]
        kind = row["exp" if expedited else "std"]
        kind["decided"] += 1
        kind[decision] += 1
        hours = (received_at - first_sent_at).total_seconds() / 3600
        kind["hours"].append(hours)
        if decision == PayerDecision.Kind.DENIED and pk in appeal_approved:
            row["after_appeal"] += 1
        if decision == PayerDecision.Kind.APPROVED and pk in pended:
            row["after_extension"] += 1
        rule = rules.get(payer_id)
        limit = None
        if rule is not None:
            limit = rule.expedited_decision_hours if expedited else (rule.standard_decision_days or 0) * 24 or None
        if limit:
            row["clock_bound"] += 1
            if hours > limit:
                row["breaches"] += 1

    out = []
    for code in sorted(rows):
        r = rows[code]
        std, exp = r["std"], r["exp"]
        decided = std["decided"] + exp["decided"]
        rule = rules.get(r["payer_id"])
        ours = {
            "standard_approved_pct": _pct(std["approved"], std["decided"]),
            "standard_denied_pct": _pct(std["denied"], std["decided"]),
            "approved_after_appeal_pct": _pct(r["after_appeal"], decided),
            "approved_after_extension_pct": _pct(r["after_extension"], decided),
            "expedited_approved_pct": _pct(exp["approved"], exp["decided"]),
            "expedited_denied_pct": _pct(exp["denied"], exp["decided"]),
            "standard_avg_hours": round(statistics.fmean(std["hours"]), 1) if std["hours"] else None,
            "standard_median_hours": round(statistics.median(std["hours"]), 1) if std["hours"] else None,
            "expedited_avg_hours": round(statistics.fmean(exp["hours"]), 1) if exp["hours"] else None,
            "expedited_median_hours": round(statistics.median(exp["hours"]), 1) if exp["hours"] else None,
        }
        pub = published.get(r["payer_id"])
        theirs = {
            key: (float(getattr(pub, key)) if pub and isinstance(getattr(pub, key), Decimal) else None)
            for key, _, _ in MEASURES
        }
        out.append(
            {
                "payer": code,
                "payer_name": r["payer_name"],
                "year": year,
                "requests": r["requests"],
                "decided": decided,
                "standard_decided": std["decided"],
                "expedited_decided": exp["decided"],
                "ours": ours,
                "published": theirs if pub else None,
                "published_source": {
                    "url": pub.source_url,
                    "published_on": pub.published_on.isoformat(),
                }
                if pub
                else None,
                "clock": (
                    {
                        "standard_days": rule.standard_decision_days,
                        "expedited_hours": rule.expedited_decision_hours,
                    }
                    if rule and (rule.standard_decision_days or rule.expedited_decision_hours)
                    else None
                ),
                "clock_bound_decisions": r["clock_bound"],
                "clock_breaches": r["breaches"],
                "measures": [
                    {
                        "key": key,
                        "label": label,
                        "unit": unit,
                        "ours": ours[key],
                        "published": theirs[key] if pub else None,
                    }
                    for key, label, unit in MEASURES
                ],
            }
        )
    return out
