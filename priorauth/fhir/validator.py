"""An offline validator of PAS bundles against the Da Vinci PAS 2.2.1 StructureDefinitions.

It reads the guide package shipped in `data/` (the .tgz as published, read at run time, compiled once
per process) and walks each profile's snapshot over the instance: cardinalities, fixed and pattern
values, slices (value / pattern / type / profile discriminators, extension urls), required bindings
to the guide's value sets (and to the handful of FHIR R4 core value sets the profiles bind to,
`data/r4-required-codes.json`), primitive types, elements the profile does not define, the guide's
invariants that decide a bundle's shape (`ClaimFirst`, `ClaimResponseFirst`, `FullDateRule`,
`self-beneficiary`, `ImmediateLevelOfCare`), reference targets, and every reference resolving inside
the bundle. Must-support elements missing are warnings. Every problem names its FHIR path.

What it does not do (the HL7 validator with a terminology server does, in Inferno): expand external
code systems (CPT, ICD-10-CM, the X12 code lists), evaluate arbitrary FHIRPath invariants, validate
against US Core or base R4 resources beyond what the PAS snapshots spell out.
"""

from __future__ import annotations

import json
import re
import tarfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data"
PACKAGE = DATA / "pas-2.2.1.tgz"
PAS_SD = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
REQUEST_BUNDLE = PAS_SD + "profile-pas-request-bundle"
RESPONSE_BUNDLE = PAS_SD + "profile-pas-response-bundle"

STRING_TYPES = {
    "string",
    "code",
    "uri",
    "url",
    "canonical",
    "id",
    "markdown",
    "oid",
    "uuid",
    "base64Binary",
    "xhtml",
    "date",
    "dateTime",
    "instant",
    "time",
    "http://hl7.org/fhirpath/System.String",
}
INT_TYPES = {"integer", "positiveInt", "unsignedInt", "integer64"}
PATTERNS = {
    "date": re.compile(r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$"),
    "dateTime": re.compile(
        r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01])(T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00)))?)?)?$"
    ),
    "instant": re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"),
    "id": re.compile(r"^[A-Za-z0-9\-.]{1,64}$"),
    "code": re.compile(r"^[^\s]+( [^\s]+)*$"),
}


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass
class Report:
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "errors": [{"path": p.path, "message": p.message} for p in self.errors],
            "warnings": [{"path": p.path, "message": p.message} for p in self.warnings],
        }


def _canonical(url: str) -> str:
    return url.split("|", 1)[0]


class Package:
    """The guide's StructureDefinitions and ValueSets, indexed by canonical URL."""

    def __init__(self, path: Path) -> None:
        self.profiles: dict[str, dict[str, Any]] = {}
        self.value_sets: dict[str, list[tuple[str, frozenset[str] | None]]] = {}
        with tarfile.open(path, "r:gz") as tar:
            for member in tar.getmembers():
                name = member.name.rsplit("/", 1)[-1]
                if not member.name.startswith("package/") or "/" in member.name[len("package/") :]:
                    continue
                if name.startswith("StructureDefinition-"):
                    sd = json.load(tar.extractfile(member))
                    self.profiles[sd["url"]] = _compile(sd)
                elif name.startswith("ValueSet-"):
                    vs = json.load(tar.extractfile(member))
                    includes = []
                    for inc in vs.get("compose", {}).get("include", []):
                        concepts = inc.get("concept")
                        includes.append(
                            (
                                inc.get("system", ""),
                                frozenset(c["code"] for c in concepts) if concepts else None,
                            )
                        )
                    self.value_sets[vs["url"]] = includes
        core = json.loads((DATA / "r4-required-codes.json").read_text())
        for url, entry in core["value_sets"].items():
            self.value_sets.setdefault(url, [(entry["system"], frozenset(entry["codes"]))])


def _compile(sd: dict[str, Any]) -> dict[str, Any]:
    elements = sd["snapshot"]["element"]
    by_id = {e["id"]: e for e in elements}
    children: dict[str, list[str]] = {}
    slices: dict[str, list[str]] = {}
    for e in elements[1:]:
        parent, _, last = e["id"].rpartition(".")
        if ":" in last:
            base = f"{parent}.{last.split(':', 1)[0]}" if parent else last.split(":", 1)[0]
            # A slice of a slice ("a:b/c") is not used by PAS profiles in a way that matters here.
            slices.setdefault(base, []).append(e["id"])
        else:
            children.setdefault(parent, []).append(e["id"])
    return {
        "url": sd["url"],
        "type": sd["type"],
        "root": elements[0]["id"],
        "by_id": by_id,
        "children": children,
        "slices": slices,
    }


@lru_cache(maxsize=1)
def package() -> Package:
    return Package(PACKAGE)


def _pattern_matches(pattern: Any, value: Any) -> bool:
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(_pattern_matches(v, value.get(k)) for k, v in pattern.items())
    if isinstance(pattern, list):
        return isinstance(value, list) and all(any(_pattern_matches(p, v) for v in value) for p in pattern)
    return pattern == value


def _fixed_or_pattern(element: dict[str, Any]) -> tuple[str, Any] | None:
    for key, value in element.items():
        if key.startswith("fixed"):
            return "fixed", value
        if key.startswith("pattern"):
            return "pattern", value
    return None


def _values(obj: dict[str, Any], name: str) -> list[tuple[str, Any]]:
    """(key, value) pairs of element `name` in obj; a choice element `x[x]` matches xString, xDate..."""
    if name.endswith("[x]"):
        prefix = name[:-3]
        found = [
            (k, v) for k, v in obj.items() if k.startswith(prefix) and len(k) > len(prefix) and k[len(prefix)].isupper()
        ]
    elif name in obj:
        found = [(name, obj[name])]
    else:
        return []
    result = []
    for key, value in found:
        if isinstance(value, list):
            result.extend((key, v) for v in value)
        else:
            result.append((key, value))
    return result


def _type_of_choice(element_name: str, key: str) -> str:
    suffix = key[len(element_name) - 3 :]
    return (
        suffix[0].lower() + suffix[1:]
        if suffix not in ("CodeableConcept", "Reference", "Quantity", "Period")
        else suffix
    )


class _Walk:
    def __init__(self, bundle: dict[str, Any], report: Report, *, must_support: bool) -> None:
        self.pkg = package()
        self.bundle = bundle
        self.report = report
        self.must_support = must_support
        self.entry_profiles: dict[int, str] = {}
        self.references: list[tuple[str, str, list[str]]] = []

    def error(self, path: str, message: str) -> None:
        self.report.errors.append(Problem(path, message))

    def warn(self, path: str, message: str) -> None:
        self.report.warnings.append(Problem(path, message, "warning"))

    # -- one element and its children -----------------------------------------------------------

    def walk(self, profile: dict[str, Any], element_id: str, obj: Any, path: str) -> None:
        if not isinstance(obj, dict):
            return
        known: set[str] = set()
        choices: set[str] = set()
        child_ids = profile["children"].get(element_id, [])
        for child_id in child_ids:
            element = profile["by_id"][child_id]
            name = child_id.rpartition(".")[2]
            if name.endswith("[x]"):
                choices.add(name[:-3])
            else:
                known.add(name)
            self.element(profile, child_id, element, name, _values(obj, name), path)
        if element_id == profile["root"]:
            for constraint in profile["by_id"][element_id].get("constraint", []):
                self.constraint(constraint["key"], obj, path, constraint.get("expression", ""))
        if child_ids:
            for key in obj:
                bare = key.removeprefix("_")
                if key == "resourceType" or bare in known:
                    continue
                if any(bare.startswith(c) and len(bare) > len(c) and bare[len(c)].isupper() for c in choices):
                    continue
                self.error(f"{path}.{key}", f"is not an element of {element_id.split(':')[0]}")

    def element(self, profile, child_id, element, name, values, path) -> None:
        shown = name.removesuffix("[x]")
        where = f"{path}.{shown}"
        minimum, maximum = element.get("min", 0), element.get("max", "*")
        if len(values) < minimum:
            self.error(where, f"minimum cardinality is {minimum}, found {len(values)}")
        elif maximum != "*" and len(values) > int(maximum):
            self.error(where, f"maximum cardinality is {maximum}, found {len(values)}")
        if not values:
            if self.must_support and element.get("mustSupport") and minimum == 0:
                self.warn(where, "must-support element is absent")
            return
        slice_ids = profile["slices"].get(child_id, [])
        assigned: dict[int, str] = {}
        if slice_ids and "slicing" in element:
            assigned = self.slices(profile, element, slice_ids, values, where, name)
        many = element.get("base", {}).get("max", element.get("max")) != "1"
        for i, (key, value) in enumerate(values):
            at = f"{where}[{i}]" if many else where
            target_id = assigned.get(i, child_id)
            target = profile["by_id"][target_id]
            self.value(profile, target_id, target, name, key, value, at)

    def value(self, profile, element_id, element, name, key, value, at) -> None:
        types = element.get("type", [])
        codes = [t.get("code") for t in types]
        if name.endswith("[x]"):
            actual = _type_of_choice(name, key)
            allowed = set(codes)
            if codes and actual not in allowed and actual.lower() not in {c.lower() for c in codes}:
                self.error(
                    at,
                    f"type {actual} is not allowed here (allowed: {', '.join(codes)})",
                )
                return
            codes = [c for c in codes if c.lower() == actual.lower()] or codes
        kind = codes[0] if len(codes) == 1 else None
        if kind in STRING_TYPES:
            if not isinstance(value, str):
                self.error(at, f"must be a {kind} (a JSON string)")
                return
            pattern = PATTERNS.get(kind)
            if pattern and not pattern.match(value):
                self.error(at, f"{value!r} is not a valid {kind}")
        elif kind == "boolean" and not isinstance(value, bool):
            self.error(at, "must be a boolean")
            return
        elif kind in INT_TYPES and (not isinstance(value, int) or isinstance(value, bool)):
            self.error(at, f"must be an {kind}")
            return
        elif kind == "decimal" and (not isinstance(value, (int, float)) or isinstance(value, bool)):
            self.error(at, "must be a decimal")
            return
        elif kind and kind[0].isupper() and kind not in ("Resource",) and not isinstance(value, dict):
            self.error(at, f"must be a {kind} (a JSON object)")
            return
        rule = _fixed_or_pattern(element)
        if rule is not None:
            how, expected = rule
            if (how == "fixed" and value != expected) or (how == "pattern" and not _pattern_matches(expected, value)):
                self.error(
                    at,
                    f"must {'be' if how == 'fixed' else 'match'} {json.dumps(expected)}",
                )
        binding = element.get("binding") or {}
        if binding.get("strength") == "required" and binding.get("valueSet"):
            self.binding(_canonical(binding["valueSet"]), value, at)
        for constraint in element.get("constraint", []):
            self.constraint(constraint["key"], value, at, constraint.get("expression", ""))
        if kind == "Reference" and isinstance(value, dict):
            targets = [t for t in types if t.get("code") == "Reference" for t in t.get("targetProfile", [])]
            if isinstance(value.get("reference"), str):
                self.references.append((at, value["reference"], [_canonical(t) for t in targets]))
        if kind == "Resource" or (isinstance(value, dict) and "resourceType" in value):
            return  # bundle entries are walked by the caller against their own profile
        for t in types:
            for p in t.get("profile", []):
                sub = self.pkg.profiles.get(_canonical(p))
                if sub is not None and sub["type"] in ("Extension", t.get("code")):
                    self.walk(sub, sub["root"], value, at)
                    break
        self.walk(profile, element_id, value, at)

    # -- slicing ---------------------------------------------------------------------------------

    def slices(self, profile, element, slice_ids, values, where, name) -> dict[int, str]:
        discriminators = element["slicing"].get("discriminator", [])
        assigned: dict[int, str] = {}
        decidable = []
        for slice_id in slice_ids:
            slice_element = profile["by_id"][slice_id]
            matcher = self.matcher(profile, slice_id, slice_element, discriminators, name)
            if matcher is None:
                continue
            decidable.append(slice_id)
            count = 0
            for i, (key, value) in enumerate(values):
                if i not in assigned and matcher(key, value):
                    assigned[i] = slice_id
                    count += 1
            slice_name = slice_id.rpartition(":")[2]
            minimum, maximum = (
                slice_element.get("min", 0),
                slice_element.get("max", "*"),
            )
            if count < minimum:
                self.error(
                    f"{where}:{slice_name}",
                    f"minimum cardinality is {minimum}, found {count}",
                )
            elif maximum != "*" and count > int(maximum):
                self.error(
                    f"{where}:{slice_name}",
                    f"maximum cardinality is {maximum}, found {count}",
                )
        return assigned

    def matcher(self, profile, slice_id, slice_element, discriminators, name):
        tests = []
        for d in discriminators:
            kind, dpath = d.get("type"), d.get("path")
            if kind == "type" and dpath == "$this" and name.endswith("[x]"):
                wanted = slice_id.rpartition(":")[2]
                tests.append(lambda key, value, wanted=wanted: key == wanted)
            elif kind in ("type", "profile") and dpath == "resource":
                wanted_types = set()
                for t in profile["by_id"].get(slice_id + ".resource", {}).get("type", []):
                    for p in t.get("profile", []):
                        sub = self.pkg.profiles.get(_canonical(p))
                        wanted_types.add(sub["type"] if sub else t.get("code"))
                    if not t.get("profile"):
                        wanted_types.add(t.get("code"))
                tests.append(
                    lambda key, value, w=wanted_types: (
                        isinstance(value, dict) and (value.get("resource") or {}).get("resourceType") in w
                    )
                )
            elif kind in ("value", "pattern") and dpath == "url":
                url = None
                fixed = profile["by_id"].get(slice_id + ".url", {})
                url = fixed.get("fixedUri") or fixed.get("fixedString")
                if url is None:
                    for t in slice_element.get("type", []):
                        for p in t.get("profile", []):
                            url = _canonical(p)
                if url is None:
                    return None
                tests.append(lambda key, value, url=url: isinstance(value, dict) and value.get("url") == url)
            elif kind in ("value", "pattern") and dpath == "$this":
                rule = _fixed_or_pattern(slice_element)
                if rule is None:
                    return None
                tests.append(lambda key, value, e=rule[1]: _pattern_matches(e, value))
            elif kind in ("value", "pattern") and re.fullmatch(r"[A-Za-z]+(\.[A-Za-z]+)*", dpath or ""):
                target = profile["by_id"].get(f"{slice_id}.{dpath}")
                rule = _fixed_or_pattern(target) if target else None
                if rule is None:
                    return None
                parts = dpath.split(".")

                def test(key, value, parts=parts, e=rule[1]):
                    for part in parts:
                        if not isinstance(value, dict):
                            return False
                        value = value.get(part)
                    return _pattern_matches(e, value)

                tests.append(test)
            elif kind == "value" and (
                m := re.fullmatch(r"extension\('([^']+)'\)\.value(\.ofType\(\w+\))?", dpath or "")
            ):
                expected = [
                    _fixed_or_pattern(e)
                    for i, e in profile["by_id"].items()
                    if i.startswith(slice_id + ".extension:") and i.endswith(".value[x]") and _fixed_or_pattern(e)
                ]
                if not expected:
                    return None
                url, want = m.group(1), expected[0][1]

                def test(key, value, url=url, want=want):
                    for ext in (value or {}).get("extension", []) if isinstance(value, dict) else []:
                        if isinstance(ext, dict) and ext.get("url") == url:
                            return any(ext.get(k) == want for k in ext if k.startswith("value"))
                    return False

                tests.append(test)
            else:
                return None
        if not tests:
            return None
        return lambda key, value: all(t(key, value) for t in tests)

    # -- terminology and invariants --------------------------------------------------------------

    def binding(self, value_set: str, value: Any, at: str) -> None:
        includes = self.pkg.value_sets.get(value_set)
        if includes is None:
            return  # an external value set (X12, US Core, terminology.hl7.org): needs a terminology server
        if isinstance(value, str):
            allowed = set()
            for _system, codes in includes:
                if codes is None:
                    return
                allowed |= codes
            if value not in allowed:
                self.error(
                    at,
                    f"{value!r} is not in the required value set {value_set} ({', '.join(sorted(allowed))})",
                )
            return
        codings = (
            value.get("coding", [])
            if isinstance(value, dict) and "coding" in value
            else [value]
            if isinstance(value, dict)
            else []
        )
        for coding in codings:
            if not isinstance(coding, dict):
                continue
            for system, codes in includes:
                if coding.get("system") == system and (codes is None or coding.get("code") in codes):
                    return
        systems = ", ".join(sorted({s for s, _ in includes}))
        self.error(
            at,
            f"no coding from the required value set {value_set} (systems: {systems})",
        )

    def constraint(self, key: str, value: Any, at: str, expression: str = "") -> None:
        rule = INVARIANTS.get(key)
        if isinstance(rule, dict):  # a key two profiles use for different rules (us-core-6)
            rule = rule.get(expression)
        if rule is not None:
            message = rule(value)
            if message:
                self.error(at, f"{message} ({key})")
            return
        if key == "FullDateRule":
            if isinstance(value, str) and len(value) != 10:
                self.error(at, "must be a full date YYYY-MM-DD (FullDateRule)")
        elif key == "self-beneficiary" and isinstance(value, dict):
            codes = [c.get("code") for c in (value.get("relationship") or {}).get("coding", []) if isinstance(c, dict)]
            if "18" not in codes and not value.get("subscriber"):
                self.error(
                    at + ".subscriber",
                    "required unless the relationship is X12 18, self (self-beneficiary)",
                )
        elif key == "ImmediateLevelOfCare" and isinstance(value, dict):
            urls = {e.get("url"): e for e in value.get("extension", []) if isinstance(e, dict)}
            cert = urls.get(PAS_SD + "extension-certificationType", {}).get("valueCodeableConcept", {})
            if any(c.get("code") == "1" for c in cert.get("coding", [])):
                claim_level = any(
                    e.get("url") == PAS_SD + "extension-levelOfServiceCode" for e in self.claim_extensions
                )
                if not claim_level and PAS_SD + "extension-levelOfServiceCode" not in urls:
                    self.error(
                        at,
                        "an immediate appeal needs a level of service code (ImmediateLevelOfCare)",
                    )

    claim_extensions: list[dict[str, Any]] = []


def _npi_valid(value: Any) -> bool:
    from coverage.validation import npi_is_valid

    return isinstance(value, str) and npi_is_valid(value)


def _has(node: Any, *names: str) -> bool:
    return isinstance(node, dict) and any(node.get(n) not in (None, [], {}, "") for n in names)


def _entries(bundle: Any) -> list[dict[str, Any]]:
    return [e for e in bundle.get("entry") or [] if isinstance(e, dict)] if isinstance(bundle, dict) else []


def _bundle_request_response(bundle: Any) -> str | None:
    kind = bundle.get("type") if isinstance(bundle, dict) else None
    for i, entry in enumerate(_entries(bundle)):
        if ("request" in entry) != (kind in ("batch", "transaction", "history")):
            return f"entry[{i}].request must be present exactly in batch, transaction and history bundles"
        if ("response" in entry) != (kind in ("batch-response", "transaction-response", "history")):
            return f"entry[{i}].response must be present exactly in batch-response, transaction-response and history bundles"
    return None


def _full_urls_distinct(bundle: Any) -> str | None:
    if isinstance(bundle, dict) and bundle.get("type") == "history":
        return None
    seen = set()
    for entry in _entries(bundle):
        if isinstance(entry.get("fullUrl"), str):
            key = (
                entry["fullUrl"],
                ((entry.get("resource") or {}).get("meta") or {}).get("versionId"),
            )
            if key in seen:
                return f"fullUrl {entry['fullUrl']} appears twice"
            seen.add(key)
    return None


# The FHIRPath invariants of the PAS snapshots that decide conformance, as Python. Each answers the
# problem (None: satisfied); ClaimFirst / ClaimResponseFirst are checked by validate_bundle itself.
INVARIANTS: dict[str, Any] = {
    "pd-1": lambda v: None if _has(v, "telecom", "endpoint") else "a PractitionerRole needs telecom or an endpoint",
    "us-core-13": lambda v: (
        None
        if _has(v, "practitioner", "organization", "healthcareService", "location")
        else "a PractitionerRole needs a practitioner, organization, healthcare service or location"
    ),
    "us-core-15": lambda v: (
        None
        if _has(v, "subscriberId")
        or any(
            c.get("code") == "MB" and c.get("system") == "http://terminology.hl7.org/CodeSystem/v2-0203"
            for i in (v.get("identifier") or [] if isinstance(v, dict) else [])
            if isinstance(i, dict)
            for c in ((i.get("type") or {}).get("coding") or [])
            if isinstance(c, dict)
        )
        else "a Coverage needs a member identifier (type MB) or a subscriberId"
    ),
    "us-core-16": lambda v: (
        None if re.fullmatch(r"[0-9]{10}", str((v or {}).get("value", ""))) else "an NPI is 10 digits"
    ),
    "us-core-17": lambda v: None if _npi_valid((v or {}).get("value")) else "the NPI's check digit is wrong",
    "us-core-18": lambda v: (
        None if re.fullmatch(r"[0-9]{2}D[0-9]{7}", str((v or {}).get("value", ""))) else "a CLIA number is NNDNNNNNNN"
    ),
    "us-core-19": lambda v: (
        None if re.fullmatch(r"[0-9]{5}", str((v or {}).get("value", ""))) else "a NAIC code is 5 digits"
    ),
    "us-core-6": {
        "url.exists() or data.exists()": lambda v: (
            None if _has(v, "url", "data") else "an attachment needs its url or its data"
        ),
        "(family.exists() or given.exists()) xor extension.where(url='http://hl7.org/fhir/StructureDefinition/data-absent-reason').exists()": lambda v: (
            None
            if _has(v, "family", "given")
            != any(
                isinstance(e, dict) and e.get("url") == "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
                for e in (v or {}).get("extension") or []
            )
            else "a name needs a family or given name, or else a data-absent-reason"
        ),
    },
    "org-1": lambda v: None if _has(v, "identifier", "name") else "an Organization needs an identifier or a name",
    "org-2": lambda v: (
        "an Organization's address may not be a home address" if (v or {}).get("use") == "home" else None
    ),
    "org-3": lambda v: "an Organization's telecom may not be a home one" if (v or {}).get("use") == "home" else None,
    "pat-1": lambda v: (
        None
        if _has(v, "name", "telecom", "address", "organization")
        else "a contact needs a name, telecom, address or organization"
    ),
    "prr-1": lambda v: None if not _has(v, "orderDetail") or _has(v, "code") else "orderDetail needs a code",
    "qty-3": lambda v: "a Quantity with a code needs its system" if _has(v, "code") and not _has(v, "system") else None,
    "sqty-1": lambda v: "a simple Quantity has no comparator" if _has(v, "comparator") else None,
    "bdl-1": lambda v: (
        "total is only for searchset and history bundles"
        if _has(v, "total") and v.get("type") not in ("searchset", "history")
        else None
    ),
    "bdl-2": lambda v: (
        "entry.search is only for searchset bundles"
        if v.get("type") != "searchset" and any("search" in e for e in _entries(v))
        else None
    ),
    "bdl-3": _bundle_request_response,
    "bdl-5": lambda v: (
        None if _has(v, "resource", "request", "response") else "an entry needs a resource, request or response"
    ),
    "bdl-7": _full_urls_distinct,
    "bdl-8": lambda v: (
        "a fullUrl may not name a version (/_history/)" if "/_history/" in str((v or {}).get("fullUrl", "")) else None
    ),
    "bdl-9": lambda v: (
        "a document bundle needs identifier.system and identifier.value"
        if v.get("type") == "document" and not _has(v.get("identifier"), "system")
        else None
    ),
}


def _bundle_references(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every way an entry may be referred to: its fullUrl, and Type/id (relative to the fullUrl's base)."""
    index: dict[str, dict[str, Any]] = {}
    for entry in bundle.get("entry") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
            continue
        resource = entry["resource"]
        full_url = entry.get("fullUrl")
        if isinstance(full_url, str):
            index[full_url] = resource
        if resource.get("resourceType") and resource.get("id"):
            index[f"{resource['resourceType']}/{resource['id']}"] = resource
    return index


def _profile_for(resource: dict[str, Any], pkg: Package, hinted: str | None) -> dict[str, Any] | None:
    for url in (resource.get("meta") or {}).get("profile") or []:
        found = pkg.profiles.get(_canonical(url))
        if found is not None and found["type"] == resource.get("resourceType"):
            return found
    if hinted:
        found = pkg.profiles.get(hinted)
        if found is not None and found["type"] == resource.get("resourceType"):
            return found
    return None


def validate_bundle(bundle: Any, *, kind: str = "request", must_support: bool = False) -> Report:
    """Check a PAS request (or response) bundle; errors and warnings each name a FHIR path."""
    report = Report()
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        report.errors.append(Problem("Bundle", "not a FHIR Bundle (resourceType must be Bundle)"))
        return report
    pkg = package()
    walk = _Walk(bundle, report, must_support=must_support)
    bundle_profile = pkg.profiles[REQUEST_BUNDLE if kind == "request" else RESPONSE_BUNDLE]
    walk.walk(bundle_profile, "Bundle", bundle, "Bundle")

    entries = [e for e in bundle.get("entry") or [] if isinstance(e, dict)]
    first = (entries[0].get("resource") or {}) if entries else {}
    wanted_first = "Claim" if kind == "request" else "ClaimResponse"
    if first.get("resourceType") != wanted_first:
        rule = "ClaimFirst" if kind == "request" else "ClaimResponseFirst"
        report.errors.append(
            Problem(
                "Bundle.entry[0].resource",
                f"the first entry must be the {wanted_first} ({rule}), found {first.get('resourceType') or 'nothing'}",
            )
        )
    if first.get("resourceType") == "Claim":
        walk.claim_extensions = [e for e in first.get("extension", []) if isinstance(e, dict)]

    # Each entry against its profile: the one it declares, or the one a reference to it names
    # (the Claim's insurer is a PAS Insurer, its provider a PAS Requestor...).
    index = _bundle_references(bundle)
    hints: dict[int, str] = {}
    position = {id(e.get("resource")): k for k, e in enumerate(entries)}
    pending = list(range(len(entries)))
    while pending:
        deferred = []
        for i in pending:
            resource = entries[i].get("resource")
            at = f"Bundle.entry[{i}].resource"
            if not isinstance(resource, dict):
                continue
            if "resourceType" not in resource:
                report.errors.append(Problem(at, "resource has no resourceType"))
                continue
            hint = hints.get(i)
            if i == 0 and resource.get("resourceType") == "Claim":
                uses_update = any("claim-update" in p for p in (resource.get("meta") or {}).get("profile") or [])
                hint = PAS_SD + ("profile-claim-update" if uses_update else "profile-claim")
            elif i == 0 and resource.get("resourceType") == "ClaimResponse":
                hint = PAS_SD + "profile-claimresponse"
            profile = _profile_for(resource, pkg, hint)
            if profile is None and i not in hints and len(pending) > 1:
                deferred.append(i)  # a later entry's reference may name its profile
                continue
            before = len(walk.references)
            if profile is not None:
                walk.walk(profile, profile["root"], resource, at)
            else:
                _collect_references(resource, at, walk.references)
            for _ref_at, reference, targets in walk.references[before:]:
                target = index.get(reference)
                j = position.get(id(target)) if target is not None else None
                if j is None or j in hints:
                    continue
                for t in targets:
                    if t in pkg.profiles and pkg.profiles[t]["type"] == target.get("resourceType"):
                        hints[j] = t
                        break
        if len(deferred) == len(pending):
            # Nothing names a profile for these: check their references only.
            for i in deferred:
                _collect_references(
                    entries[i]["resource"],
                    f"Bundle.entry[{i}].resource",
                    walk.references,
                )
            break
        pending = deferred

    # Every reference resolves inside the bundle, to a resource of a type the profile allows.
    for at, reference, targets in walk.references:
        if reference.startswith("#"):
            continue
        target = index.get(reference)
        if target is None and "/" in reference and not reference.startswith("urn:"):
            target = index.get("/".join(reference.rstrip("/").split("/")[-2:]))
        if target is None:
            problem = Problem(
                f"{at}.reference",
                f"{reference!r} does not resolve to an entry of the bundle",
            )
            # What the first resource (the Claim, the ClaimResponse) points at must travel with it;
            # a reference from another entry may name a resource on the sender's own server.
            if at.startswith("Bundle.entry[0].") and kind == "request":
                report.errors.append(problem)
            else:
                report.warnings.append(Problem(problem.path, problem.message, "warning"))
            continue
        types = {pkg.profiles[t]["type"] if t in pkg.profiles else t.rsplit("/", 1)[-1] for t in targets}
        types = {_core_type(t) for t in types}
        if types and None not in types and target.get("resourceType") not in types:
            report.errors.append(
                Problem(
                    f"{at}.reference",
                    f"points at a {target.get('resourceType')}, must be one of: {', '.join(sorted(types))}",
                )
            )
    return report


def _core_type(name: str) -> str | None:
    """The resource type a target profile's name stands for (us-core-patient → Patient)."""
    if name and name[0].isupper():
        return name
    known = {
        "us-core-patient": "Patient",
        "us-core-practitioner": "Practitioner",
        "us-core-organization": "Organization",
        "us-core-practitionerrole": "PractitionerRole",
        "us-core-encounter": "Encounter",
        "us-core-location": "Location",
        "us-core-condition-encounter-diagnosis": "Condition",
        "us-core-condition-problems-health-concerns": "Condition",
        "us-core-documentreference": "DocumentReference",
        "us-core-coverage": "Coverage",
        "us-core-relatedperson": "RelatedPerson",
        "us-core-servicerequest": "ServiceRequest",
        "us-core-medicationrequest": "MedicationRequest",
    }
    return known.get(name)


def _collect_references(node: Any, at: str, out: list[tuple[str, str, list[str]]]) -> None:
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str) and set(node) <= {
            "reference",
            "display",
            "type",
            "identifier",
            "extension",
            "id",
        }:
            out.append((at, node["reference"], []))
        for key, value in node.items():
            if key != "contained":
                _collect_references(value, f"{at}.{key}", out)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _collect_references(value, f"{at}[{i}]", out)
