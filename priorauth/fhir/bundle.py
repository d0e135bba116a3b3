"""The Da Vinci PAS 2.2.1 request Bundle for one authorization request, as plain JSON-ready dicts.

Built from the request's records and its case (the contract's shape), never from free text typed
for the payer: what is sent is what the product holds. Ids and fullUrls are name-based UUIDs of the
request's reference, so building twice gives the same references (only `timestamp`/`created` move).
The codes below are standard code systems (X12, CMS place of service, LOINC, HL7), not payer rules.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from typing import Any

from django.conf import settings
from django.utils import timezone

from priorauth.fhir.models import PasEndpoint
from priorauth.letters.models import LetterKind, LetterRevision
from priorauth.models import Attachment, AuthorizationRequest

PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
PAS_CS = "http://hl7.org/fhir/us/davinci-pas/CodeSystem/PASTempCodes"
X12 = "https://codesystem.x12.org/005010/"
NPI = "http://hl7.org/fhir/sid/us-npi"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
CPT = "http://www.ama-assn.org/go/cpt"
LOINC = "http://loinc.org"
POS = "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set"

# The case's procedure.setting → CMS place-of-service code.
PLACE_OF_SERVICE = {
    "hospital_outpatient": ("22", "On Campus-Outpatient Hospital"),
    "asc": ("24", "Ambulatory Surgical Center"),
    "office": ("11", "Office"),
}
GENDER = {"F": "female", "M": "male", "X": "other", "U": "unknown"}
# Attachment kind → (LOINC document type from the guide's attachment codes, X12 PWK01 report type).
DOCUMENT_TYPE = {
    Attachment.Kind.IMAGING_REPORT: ("18748-4", "Diagnostic imaging study", "RR"),
    Attachment.Kind.THERAPY_NOTE: ("11506-3", "Progress note", "PN"),
    Attachment.Kind.CLINICAL_NOTE: ("11506-3", "Progress note", "PN"),
    Attachment.Kind.PAYER_CORRESPONDENCE: ("51851-4", "Administrative note", "OZ"),
    Attachment.Kind.OTHER: ("51851-4", "Administrative note", "OZ"),
}
LETTER_TYPE = (
    "11488-4",
    "Consult note",
    "B3",
)  # letter of medical necessity: physician's order/statement

_NAMESPACE = uuid.UUID("6f0b7a47-0b55-4c8e-9d0b-5f3c0f6c2a14")


def _system_base() -> str:
    return getattr(settings, "PAS_SYSTEM_BASE", "https://mildpa.example.org/fhir").rstrip("/")


def _id(reference: str, local: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{reference}/{local}"))


def _coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def _split_name(name: str) -> dict[str, Any]:
    """'Dana Whitfield, MD' → family Whitfield, given [Dana], suffix [MD]."""
    person, _, suffix = name.partition(",")
    parts = person.split()
    result: dict[str, Any] = {
        "text": name.strip(),
        "family": parts[-1] if parts else name.strip(),
    }
    if len(parts) > 1:
        result["given"] = parts[:-1]
    if suffix.strip():
        result["suffix"] = [suffix.strip()]
    return result


def _address(text: str) -> list[dict[str, Any]]:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return [{"line": lines[:4], "country": "US"}] if lines else []


def _telecom(phone: str, fax: str) -> list[dict[str, str]]:
    return [t for t in ({"system": "phone", "value": phone}, {"system": "fax", "value": fax}) if t["value"]]


class _Builder:
    def __init__(self, request: AuthorizationRequest, *, now: dt.datetime) -> None:
        self.request = request
        self.case = request.case or {}
        self.now = now
        self.entries: list[dict[str, Any]] = []

    def ref(self, resource_type: str, local: str) -> dict[str, str]:
        return {"reference": f"urn:uuid:{_id(self.request.reference, f'{resource_type}/{local}')}"}

    def add(self, resource: dict[str, Any], local: str, profile: str | None = None) -> dict[str, str]:
        rid = _id(self.request.reference, f"{resource['resourceType']}/{local}")
        resource = {"resourceType": resource.pop("resourceType"), "id": rid, **resource}
        if profile:
            resource["meta"] = {"profile": [PAS + profile]}
        self.entries.append({"fullUrl": f"urn:uuid:{rid}", "resource": resource})
        return {"reference": f"urn:uuid:{rid}"}

    def build(self) -> dict[str, Any]:
        r, case = self.request, self.case
        patient_part = case.get("patient") or r.patient.case_part()
        procedure = case.get("procedure") or {}
        diagnoses = [d for d in case.get("diagnoses") or [] if isinstance(d, str)]
        base = _system_base()
        endpoint = PasEndpoint.objects.filter(payer_id=r.payer_id).first()

        patient = self.ref("Patient", "patient")
        insurer = self.ref("Organization", "insurer")
        requestor = self.ref("Organization", "requestor")
        role = self.ref("PractitionerRole", "physician")
        practitioner = self.ref("Practitioner", "physician")
        coverage = self.ref("Coverage", "coverage")
        service = self.ref("ServiceRequest", "service")

        documents = self._documents(patient, role)
        conditions = [self.ref("Condition", f"dx{i}") for i in range(len(diagnoses))]

        supporting = []
        planned = procedure.get("planned_date")
        if planned:
            supporting.append(
                {
                    "sequence": 1,
                    "category": _coding(PAS_CS, "patientEvent"),
                    "timingDate": planned,
                }
            )
        for reference, (_loinc, label, pwk) in documents:
            supporting.append(
                {
                    "extension": [
                        {
                            "url": PAS + "extension-documentInformation",
                            "extension": [
                                {
                                    "url": "reportTypeCode",
                                    "valueCodeableConcept": _coding(X12 + "755", pwk),
                                },
                                {
                                    "url": "transmissionMethod",
                                    "valueCodeableConcept": _coding(X12 + "756", "EL"),
                                },
                                {"url": "description", "valueString": label},
                            ],
                        }
                    ],
                    "sequence": len(supporting) + 1,
                    "category": _coding(PAS_CS, "additionalInformation"),
                    "valueReference": reference,
                }
            )

        item: dict[str, Any] = {
            "extension": [
                {
                    "url": PAS + "extension-itemTraceNumber",
                    "valueIdentifier": {
                        "system": f"{base}/item-trace-number",
                        "value": f"{r.reference}-1",
                    },
                },
                {
                    "url": PAS + "extension-serviceItemRequestType",
                    "valueCodeableConcept": _coding(X12 + "1525", "HS", "Health Services Review"),
                },
                {
                    "url": PAS + "extension-certificationType",
                    "valueCodeableConcept": _coding(X12 + "1322", "I", "Initial"),
                },
                {"url": PAS + "extension-requestedService", "valueReference": service},
            ],
            "sequence": 1,
            "careTeamSequence": [1],
            "category": _coding(X12 + "1365", "2", "Surgical"),
            "productOrService": _coding(CPT, procedure.get("cpt") or "0275T"),
            "quantity": {"value": 1},
        }
        if diagnoses:
            item["diagnosisSequence"] = list(range(1, len(diagnoses) + 1))
        if supporting:
            item["informationSequence"] = [s["sequence"] for s in supporting]
        if planned:
            item["servicedDate"] = planned
        pos = PLACE_OF_SERVICE.get(procedure.get("setting") or "", ("22", "On Campus-Outpatient Hospital"))
        item["locationCodeableConcept"] = _coding(POS, *pos)

        claim: dict[str, Any] = {
            "resourceType": "Claim",
            "extension": [
                {
                    "url": PAS + "extension-levelOfServiceCode",
                    "valueCodeableConcept": _coding(
                        X12 + "1338",
                        "U" if r.expedited else "E",
                        "Urgent" if r.expedited else "Elective",
                    ),
                }
            ],
            "identifier": [{"system": f"{base}/prior-authorization-request", "value": r.reference}],
            "status": "active",
            "type": _coding("http://terminology.hl7.org/CodeSystem/claim-type", "professional"),
            "use": "preauthorization",
            "patient": patient,
            "created": self.now.isoformat(timespec="seconds"),
            "insurer": insurer,
            "provider": requestor,
            "priority": _coding(
                "http://terminology.hl7.org/CodeSystem/processpriority",
                "stat" if r.expedited else "normal",
            ),
            "careTeam": [
                {
                    "extension": [
                        {
                            "url": PAS + "extension-careTeamClaimScope",
                            "valueBoolean": True,
                        }
                    ],
                    "sequence": 1,
                    "provider": role,
                }
            ],
        }
        if supporting:
            claim["supportingInfo"] = supporting
        if diagnoses:
            claim["diagnosis"] = [
                {
                    "sequence": i + 1,
                    "diagnosisCodeableConcept": _coding(ICD10CM, code),
                    **({"type": [_coding(PAS_CS, "principal")]} if i == 0 else {}),
                }
                for i, code in enumerate(diagnoses)
            ]
        claim["insurance"] = [{"sequence": 1, "focal": True, "coverage": coverage}]
        claim["item"] = [item]
        # The Claim goes first (the guide's ClaimFirst rule); everything it points at follows.
        self.add(claim, "claim", "profile-claim")

        self.add(
            {
                "resourceType": "Patient",
                "identifier": [
                    {
                        "type": _coding(
                            "http://terminology.hl7.org/CodeSystem/v2-0203",
                            "MB",
                            "Member Number",
                        ),
                        "system": f"{base}/payer/{r.payer.code}/member-id",
                        "value": patient_part.get("member_id") or r.patient.member_id,
                    }
                ],
                "name": [
                    {
                        "family": patient_part.get("last_name", ""),
                        "given": [patient_part.get("first_name", "")],
                    }
                ],
                "gender": GENDER.get(patient_part.get("sex", "U"), "unknown"),
                "birthDate": patient_part.get("birth_date") or r.patient.birth_date.isoformat(),
            },
            "patient",
            "profile-beneficiary",
        )
        self.add(
            {
                "resourceType": "Coverage",
                "identifier": [
                    {
                        "type": _coding(
                            "http://terminology.hl7.org/CodeSystem/v2-0203",
                            "MB",
                            "Member Number",
                        ),
                        "system": f"{base}/payer/{r.payer.code}/member-id",
                        "value": patient_part.get("member_id") or r.patient.member_id,
                    }
                ],
                "status": "active",
                "subscriberId": patient_part.get("member_id") or r.patient.member_id,
                "beneficiary": patient,
                "relationship": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/subscriber-relationship",
                            "code": "self",
                        },
                        {"system": X12 + "1069", "code": "18"},
                    ]
                },
                "payor": [insurer],
            },
            "coverage",
            "profile-coverage",
        )
        insurer_resource: dict[str, Any] = {"resourceType": "Organization"}
        if endpoint is not None and endpoint.payer_identifier_value:
            insurer_resource["identifier"] = [
                {
                    "system": endpoint.payer_identifier_system,
                    "value": endpoint.payer_identifier_value,
                }
            ]
        insurer_resource.update(
            {
                "active": True,
                "type": [_coding(X12 + "98", "PR", "Payer")],
                "name": r.payer.name,
            }
        )
        self.add(insurer_resource, "insurer", "profile-insurer")
        practice = r.practice
        requestor_resource: dict[str, Any] = {"resourceType": "Organization"}
        if practice.npi:
            requestor_resource["identifier"] = [{"system": NPI, "value": practice.npi}]
        requestor_resource.update(
            {
                "active": True,
                "type": [_coding(X12 + "98", "1P", "Provider")],
                "name": practice.name,
            }
        )
        if _telecom(practice.phone, practice.fax):
            requestor_resource["telecom"] = _telecom(practice.phone, practice.fax)
        if _address(practice.address):
            requestor_resource["address"] = _address(practice.address)
        self.add(requestor_resource, "requestor", "profile-requestor")

        physician = r.treating_physician
        self.add(
            {
                "resourceType": "PractitionerRole",
                "practitioner": practitioner,
                "organization": requestor,
                # The practice's phone and fax: PAS (pd-1) wants a way to reach the requester;
                # without either the check names this PractitionerRole.
                **(
                    {"telecom": _telecom(practice.phone, practice.fax)}
                    if _telecom(practice.phone, practice.fax)
                    else {}
                ),
            },
            "physician",
            "profile-practitionerrole",
        )
        self.add(
            {
                "resourceType": "Practitioner",
                "identifier": [{"system": NPI, "value": physician.npi}],
                "name": [_split_name(physician.name)],
            },
            "physician",
            "profile-practitioner",
        )
        for i, code in enumerate(diagnoses):
            self.add(
                {
                    "resourceType": "Condition",
                    "clinicalStatus": _coding(
                        "http://terminology.hl7.org/CodeSystem/condition-clinical",
                        "active",
                    ),
                    "verificationStatus": _coding(
                        "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                        "confirmed",
                    ),
                    "category": [
                        _coding(
                            "http://terminology.hl7.org/CodeSystem/condition-category",
                            "encounter-diagnosis",
                        )
                    ],
                    "code": _coding(ICD10CM, code),
                    "subject": patient,
                },
                f"dx{i}",
            )
        service_request: dict[str, Any] = {
            "resourceType": "ServiceRequest",
            "status": "active",
            "intent": "order",
            "priority": "urgent" if r.expedited else "routine",
            "code": _coding(CPT, procedure.get("cpt") or "0275T"),
            "subject": patient,
        }
        if planned:
            service_request["occurrenceTiming"] = {"event": [planned]}
        service_request["requester"] = role
        service_request["performer"] = [role]
        if conditions:
            service_request["reasonReference"] = conditions
        service_request["insurance"] = [coverage]
        levels = [level for level in procedure.get("levels") or [] if isinstance(level, str)]
        if levels:
            # Spinal levels as text: no standard code system names a lumbar interlaminar level pair.
            service_request["bodySite"] = [{"text": f"Lumbar level {level}"} for level in levels]
        self.add(service_request, "service", "profile-servicerequest")
        for resource, local in self._document_resources:
            self.add(resource, local, "profile-documentreference")

        return {
            "resourceType": "Bundle",
            "id": _id(r.reference, "Bundle"),
            "meta": {"profile": [PAS + "profile-pas-request-bundle"]},
            "identifier": {
                "system": f"{base}/submitter-transaction-identifier",
                "value": r.reference,
            },
            "type": "collection",
            "timestamp": self.now.isoformat(timespec="seconds"),
            "entry": self.entries,
        }

    def _documents(
        self, patient: dict[str, str], role: dict[str, str]
    ) -> list[tuple[dict[str, str], tuple[str, str, str]]]:
        """The supporting documents: each attachment and the signed prior-authorization letter, as
        PAS DocumentReferences carrying the file inline (the profile requires `attachment.data`)."""
        self._document_resources: list[tuple[dict[str, Any], str]] = []
        found = []
        for attachment in self.request.attachments.all():
            loinc, label, pwk = DOCUMENT_TYPE.get(attachment.kind, DOCUMENT_TYPE[Attachment.Kind.OTHER])
            with attachment.file.open("rb") as handle:
                data = handle.read()
            found.append(
                (
                    f"att{attachment.pk}",
                    (loinc, attachment.get_kind_display(), pwk),
                    data,
                    attachment.content_type,
                    attachment.uploaded_at,
                )
            )
        revision = (
            LetterRevision.objects.filter(
                letter__request=self.request,
                letter__kind=LetterKind.PRIOR_AUTHORIZATION,
                signed_at__isnull=False,
            )
            .exclude(final_pdf="")
            .order_by("-number")
            .first()
        )
        if revision is not None:
            with revision.final_pdf.open("rb") as handle:
                data = handle.read()
            found.append(
                (
                    f"letter{revision.pk}",
                    (
                        LETTER_TYPE[0],
                        "Signed letter of medical necessity",
                        LETTER_TYPE[2],
                    ),
                    data,
                    "application/pdf",
                    revision.signed_at,
                )
            )
        result = []
        for local, (loinc, label, pwk), data, content_type, when in found:
            reference = self.ref("DocumentReference", local)
            self._document_resources.append(
                (
                    {
                        "resourceType": "DocumentReference",
                        "status": "current",
                        "type": _coding(LOINC, loinc),
                        "category": [
                            _coding(
                                "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
                                "clinical-note",
                            )
                        ],
                        "subject": patient,
                        "date": when.isoformat(timespec="seconds"),
                        "author": [role],
                        "description": label,
                        "content": [
                            {
                                "attachment": {
                                    "contentType": content_type,
                                    "data": base64.b64encode(data).decode("ascii"),
                                    "title": label,
                                }
                            }
                        ],
                    },
                    local,
                )
            )
            result.append((reference, (loinc, label, pwk)))
        return result


def request_bundle(request: AuthorizationRequest, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """The PAS request Bundle (type collection, the Claim first) for `request`."""
    return _Builder(request, now=now or timezone.now()).build()
