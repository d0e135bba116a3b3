"""The payer rule registry: payers, their mild® coverage policies, and the evidence those cite.

Every threshold, code list, deadline and reason text lives here as data that admins edit. Each
record keeps its full change history (django-simple-history), and every published state of a policy
is frozen as a PolicyVersion snapshot, which is what the checker evaluates and what a determination
names.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from simple_history.models import HistoricalRecords


class ReviewStatus(models.TextChoices):
    VERIFIED = "verified", "Verified"
    UNVERIFIED = "unverified", "Unverified"


class Certainty(models.TextChoices):
    HIGH = "H", "H — official or primary source"
    MEDIUM = "M", "M — reliable secondary or cut-off primary source"
    LOW = "L", "L — one secondary source"


class Reviewable(models.Model):
    """A record whose facts an admin has (or has not yet) confirmed against their source."""

    review_status = models.CharField(max_length=10, choices=ReviewStatus.choices, default=ReviewStatus.UNVERIFIED)
    review_reason = models.TextField(
        blank=True, help_text="Why it is unverified: which fact is uncertain and what its source is."
    )

    class Meta:
        abstract = True

    def clean(self) -> None:
        super().clean()
        if self.review_status == ReviewStatus.UNVERIFIED and not self.review_reason.strip():
            raise ValidationError({"review_reason": "Say why it is unverified (the uncertain fact and its source)."})


class EvidenceSource(models.Model):
    class Kind(models.TextChoices):
        POSITION_STATEMENT = "position_statement", "Position statement"
        NCD = "ncd", "National coverage determination"
        REGULATION = "regulation", "Regulation or manual"
        TRIAL = "trial", "Clinical trial or study"
        GUIDELINE = "guideline", "Guideline"
        PAYER_POLICY = "payer_policy", "Payer policy"
        OTHER = "other", "Other"

    key = models.SlugField(max_length=64, unique=True)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    certainty = models.CharField(max_length=1, choices=Certainty.choices, default=Certainty.HIGH)
    short = models.CharField("short citation", max_length=300)
    citation = models.TextField("full citation")
    url = models.URLField(blank=True, max_length=500)
    note = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.short


class Payer(models.Model):
    class Program(models.TextChoices):
        MEDICARE = "medicare", "Original Medicare"
        MEDICARE_ADVANTAGE = "medicare_advantage", "Medicare Advantage"
        VA = "va", "VA Community Care"
        TRICARE = "tricare", "TRICARE (DoD)"
        IHS = "ihs", "IHS Purchased/Referred Care"
        COMMERCIAL = "commercial", "Commercial"

    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    program = models.CharField(max_length=32, choices=Program.choices)
    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class PayerContact(Reviewable):
    """One desk of a payer's directory: where prior-authorization requests or appeals of that payer
    go (the plan's or contractor's own name, address, fax, phone, portal). Admins keep it; a
    request names the one its letters are addressed to, and the fax cover sheet reads it too.

    Seeded entries are unverified until an admin confirms them against the payer's notice or site;
    phone and fax numbers are never seeded, so staff fill them in from the payer's own documents.
    """

    class Kind(models.TextChoices):
        PRIOR_AUTHORIZATION = "prior_authorization", "Prior authorization / utilization management"
        APPEALS = "appeals", "Appeals / reconsideration"
        REDETERMINATION = "redetermination", "Redetermination (Medicare Administrative Contractor)"
        COMMUNITY_CARE = "community_care", "Community care office (VA medical center)"
        PRC = "prc", "Purchased/Referred Care program"
        EXTERNAL_REVIEW = "external_review", "External review"
        CLAIMS = "claims", "Claims"

    payer = models.ForeignKey(Payer, on_delete=models.CASCADE, related_name="contacts")
    key = models.SlugField(max_length=64, unique=True)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    name = models.CharField(
        max_length=200, blank=True, help_text="The plan's or contractor's own name, as the letter addresses it."
    )
    department = models.CharField(
        max_length=200, blank=True, help_text="The desk, e.g. Appeals and Grievances Department."
    )
    address = models.TextField(blank=True, help_text="Mailing address, one line per line.")
    phone = models.CharField(max_length=32, blank=True)
    fax = models.CharField(max_length=32, blank=True)
    portal_url = models.URLField(blank=True, max_length=500)
    notes = models.TextField(blank=True, help_text="For staff: what to confirm, which form to use.")
    history = HistoricalRecords()

    class Meta:
        ordering = ["payer__code", "kind", "name", "key"]

    def __str__(self) -> str:
        return f"{self.name or self.payer.name} — {self.get_kind_display()}"

    @property
    def is_addressable(self) -> bool:
        """A letter can be final only when it names who receives it and where."""
        return bool(self.name.strip() and self.address.strip())

    def missing_fields(self) -> list[str]:
        """What staff must still fill in before a letter or fax can go to this desk."""
        return [f for f in ("name", "address", "fax", "phone") if not getattr(self, f).strip()]


class Policy(Reviewable):
    """The payer's current coverage policy for mild®; one per payer, revised in place with history."""

    payer = models.OneToOneField(Payer, on_delete=models.CASCADE, related_name="policy")
    code = models.CharField(max_length=100, help_text="The payer's identifier, e.g. NCD 150.13.")
    title = models.CharField(max_length=300)
    version = models.CharField(max_length=50, help_text="The payer's own version label, e.g. 2 for NCD 150.13 v2.")
    effective_date = models.DateField()
    sources = models.ManyToManyField(EvidenceSource, blank=True, related_name="policies")
    revision = models.PositiveIntegerField(default=0, editable=False, help_text="Our published revision number.")
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(m2m_fields=[sources])

    class Meta:
        verbose_name_plural = "policies"
        ordering = ["payer__code"]

    def __str__(self) -> str:
        return f"{self.payer.code}: {self.code}"


class Criterion(models.Model):
    class Section(models.TextChoices):
        CLINICAL = "clinical", "Clinical (position statement)"
        PAYER = "payer", "Payer rules"

    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="criteria")
    order = models.PositiveIntegerField(default=0)
    key = models.SlugField(max_length=64)
    section = models.CharField(max_length=10, choices=Section.choices)
    label = models.CharField(max_length=200)
    path = models.CharField(max_length=200, help_text="Dotted path of the case field it reads.")
    operator = models.CharField(max_length=32)
    value = models.JSONField(null=True, blank=True, help_text="The threshold, list or condition(s), as JSON.")
    required = models.BooleanField(default=True, help_text="Unticked: advisory, shown but never changes a decision.")
    reason_met = models.CharField(max_length=500)
    reason_not_met = models.CharField(max_length=500)
    reason_missing = models.CharField(max_length=500)
    citations = models.ManyToManyField(EvidenceSource, blank=True, related_name="criteria")
    history = HistoricalRecords(m2m_fields=[citations])

    class Meta:
        ordering = ["policy", "section", "order", "id"]
        verbose_name_plural = "criteria"
        constraints = [models.UniqueConstraint(fields=["policy", "key"], name="criterion_key_unique_per_policy")]

    def __str__(self) -> str:
        return f"{self.key} ({self.section})"

    def clean(self) -> None:
        from coverage.operators import criterion_spec_errors
        from policies.validation import CONTRACT_CLINICAL_KEYS

        errors = criterion_spec_errors(
            {
                "key": self.key,
                "section": self.section,
                "label": self.label,
                "path": self.path,
                "operator": self.operator,
                "value": self.value,
                "reason_met": self.reason_met,
                "reason_not_met": self.reason_not_met,
                "reason_missing": self.reason_missing,
            }
        )
        if self.pk is not None:
            before = Criterion.objects.filter(pk=self.pk).values_list("key", "section").first()
            if before and before[1] == self.Section.CLINICAL and before[0] in CONTRACT_CLINICAL_KEYS:
                if self.key != before[0]:
                    errors.append(
                        ("key", f"{before[0]!r} is reported in every determination (the case contract): keep its key")
                    )
                if self.section != before[1]:
                    errors.append(
                        (
                            "section",
                            f"{before[0]!r} is reported in every determination (the case contract): keep it clinical",
                        )
                    )
        if errors:
            # Lists: one field may have several problems (say two bad conditions of an all_of).
            by_field: dict[str, list[str]] = {}
            for field, message in errors:
                by_field.setdefault(field, []).append(message)
            raise ValidationError(by_field)


class ClaimRequirement(models.Model):
    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="claim_requirements")
    order = models.PositiveIntegerField(default=0)
    text = models.CharField(max_length=300, help_text="May name a case field in braces, e.g. CPT {procedure.cpt}.")
    fallback = models.CharField(max_length=300, blank=True, help_text="Shown when the field in the text is absent.")
    history = HistoricalRecords()

    class Meta:
        ordering = ["policy", "order", "id"]

    def __str__(self) -> str:
        return self.text

    def clean(self) -> None:
        from coverage.operators import template_path_errors

        messages = template_path_errors(self.text)
        if messages:
            raise ValidationError({"text": messages})


class PriorAuthRule(Reviewable):
    policy = models.OneToOneField(Policy, on_delete=models.CASCADE, related_name="prior_authorization")
    required = models.BooleanField(default=False)
    standard_decision_days = models.PositiveIntegerField(null=True, blank=True)
    expedited_decision_hours = models.PositiveIntegerField(null=True, blank=True)
    notes = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "prior-authorization timeline"

    def __str__(self) -> str:
        return f"Prior authorization for {self.policy}"


class AppealLevel(Reviewable):
    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="appeal_levels")
    order = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    decided_by = models.CharField(max_length=200, blank=True)
    filing_deadline_days = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: no fixed deadline.")
    decision_deadline_days = models.PositiveIntegerField(null=True, blank=True)
    expedited_decision_hours = models.PositiveIntegerField(null=True, blank=True)
    amount_in_controversy = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    notes = models.TextField(blank=True)
    # Medicare Advantage's Independent Review Entity is reached by the plan forwarding the case
    # itself (42 CFR 422.590): the provider files nothing there, so no letter is drafted for it.
    provider_files = models.BooleanField(
        default=True,
        help_text="Unticked: the payer forwards the case itself; no appeal letter is drafted for this level.",
    )
    citations = models.ManyToManyField(EvidenceSource, blank=True, related_name="appeal_levels")
    history = HistoricalRecords(m2m_fields=[citations])

    class Meta:
        ordering = ["policy", "order"]
        constraints = [models.UniqueConstraint(fields=["policy", "order"], name="appeal_level_order_unique")]

    def __str__(self) -> str:
        return f"{self.order}. {self.name}"


class PolicyVersion(models.Model):
    """A published state of a policy, frozen as the JSON the checker evaluates. Never edited."""

    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="versions")
    revision = models.PositiveIntegerField()
    snapshot = models.JSONField()
    summary = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["policy", "-revision"]
        constraints = [models.UniqueConstraint(fields=["policy", "revision"], name="policy_revision_unique")]

    def __str__(self) -> str:
        return f"{self.policy} r{self.revision}"


class RegistryState(models.Model):
    """One row whose generation moves whenever a published policy changes, so that every process
    (web workers, Celery workers) drops its cached checker snapshot."""

    generation = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"registry generation {self.generation}"


# ---------------------------------------------------------------------------------------------
# Letter texts: the sentences, coverage paragraphs and rebuttals that letters are drafted from.
# Each factual sentence is an EvidenceClaim carrying its sources; paragraphs arrange claims and add
# only framing text of their own (no sourced fact may live in a lead or closing).


class DenialCategory(models.TextChoices):
    INVESTIGATIONAL = "investigational", "Experimental / investigational"
    CRITERIA_NOT_MET = "criteria_not_met", "Medical criteria not met"
    MISSING_DOCUMENTATION = "missing_documentation", "Missing documentation"
    NOT_COVERED_BENEFIT = "not_covered_benefit", "Not a covered benefit"
    OUT_OF_NETWORK = "out_of_network", "Out of network"
    # Original Medicare: a claim returned for a missing NCT number, Q0 or Z00.6 is unprocessable,
    # not denied; it is corrected and resubmitted, never appealed (domain.md §3).
    CED_CODING = "ced_coding", "Claim returned for CED coding (NCT number, Q0, Z00.6)"
    OTHER = "other", "Other"


class EvidenceClaim(Reviewable):
    """One sentence that a source supports, with the sources it cites."""

    class Topic(models.TextChoices):
        PROCEDURE = "procedure", "The procedure"
        SAFETY = "safety", "Safety and durability"
        EVIDENCE = "evidence", "Trials and publications"
        GUIDELINE = "guideline", "Guidelines and position statements"
        SELECTION = "selection", "Patient selection"
        COVERAGE = "coverage", "Coverage and regulation"

    key = models.SlugField(max_length=64, unique=True)
    topic = models.CharField(max_length=16, choices=Topic.choices)
    text = models.TextField(help_text="One sentence, exactly as it should read in a letter.")
    citations = models.ManyToManyField(EvidenceSource, related_name="claims")
    in_evidence_summary = models.BooleanField(
        default=False, help_text="Ticked: part of the evidence summary of every prior-authorization letter."
    )
    order = models.PositiveIntegerField(default=0, help_text="Position in the evidence summary.")
    history = HistoricalRecords(m2m_fields=[citations])

    class Meta:
        ordering = ["order", "key"]

    def __str__(self) -> str:
        return self.key


class LetterParagraph(models.Model):
    """What coverage and rebuttal paragraphs share: framing text around an ordered list of claims."""

    key = models.SlugField(max_length=64, unique=True)
    order = models.PositiveIntegerField(default=0)
    heading = models.CharField(max_length=200, blank=True)
    lead = models.TextField(blank=True, help_text="Framing before the claims; no sourced fact (facts are claims).")
    closing = models.TextField(blank=True, help_text="Framing after the claims; no sourced fact.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.key

    def clean(self) -> None:
        super().clean()
        if getattr(self, "payer_id", None) and self.program and self.payer.program != self.program:
            raise ValidationError({"payer": f"{self.payer} is not a {self.get_program_display()} payer."})


class CoverageParagraph(LetterParagraph):
    """The coverage basis a letter states for a payer program (or, when payer is set, one payer)."""

    program = models.CharField(max_length=32, choices=Payer.Program.choices)
    payer = models.ForeignKey(
        Payer,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="coverage_paragraphs",
        help_text="Empty: every payer of the program. Set: only this payer, replacing the program's paragraphs.",
    )
    patient_sentence = models.CharField(
        max_length=500,
        blank=True,
        help_text="About this patient's case; may name case fields in braces, e.g. {administrative.clinical_study_nct}.",
    )
    patient_fallback = models.CharField(
        max_length=500, blank=True, help_text="Said instead when a named case field is absent."
    )
    claims = models.ManyToManyField(EvidenceClaim, through="CoverageParagraphClaim", related_name="coverage_paragraphs")
    history = HistoricalRecords()

    class Meta:
        ordering = ["program", "order", "key"]

    def clean(self) -> None:
        super().clean()
        from coverage.operators import template_path_errors

        for name in ("patient_sentence", "patient_fallback"):
            for message in template_path_errors(getattr(self, name)):
                raise ValidationError({name: message})


class RebuttalParagraph(LetterParagraph):
    """The answer to one category of denial reason; the most specific match (payer, then program,
    then neither) is used."""

    category = models.CharField(max_length=32, choices=DenialCategory.choices)
    program = models.CharField(
        max_length=32, choices=Payer.Program.choices, blank=True, help_text="Empty: any program."
    )
    payer = models.ForeignKey(
        Payer, null=True, blank=True, on_delete=models.CASCADE, related_name="rebuttal_paragraphs"
    )
    cites_patient_evidence = models.BooleanField(
        default=False, help_text="Ticked: after the lead, state the patient's own evidence for each criterion."
    )
    lists_enclosures = models.BooleanField(default=False, help_text="Ticked: after the lead, name what is enclosed.")
    claims = models.ManyToManyField(EvidenceClaim, through="RebuttalParagraphClaim", related_name="rebuttal_paragraphs")
    history = HistoricalRecords()

    class Meta:
        ordering = ["category", "program", "order", "key"]


class CoverageParagraphClaim(models.Model):
    paragraph = models.ForeignKey(CoverageParagraph, on_delete=models.CASCADE, related_name="claim_links")
    claim = models.ForeignKey(EvidenceClaim, on_delete=models.PROTECT, related_name="+")
    order = models.PositiveIntegerField(default=0)
    history = HistoricalRecords()

    class Meta:
        ordering = ["paragraph", "order", "id"]
        constraints = [models.UniqueConstraint(fields=["paragraph", "claim"], name="coverage_paragraph_claim_unique")]

    def __str__(self) -> str:
        return f"{self.paragraph.key}: {self.claim.key}"


class RebuttalParagraphClaim(models.Model):
    paragraph = models.ForeignKey(RebuttalParagraph, on_delete=models.CASCADE, related_name="claim_links")
    claim = models.ForeignKey(EvidenceClaim, on_delete=models.PROTECT, related_name="+")
    order = models.PositiveIntegerField(default=0)
    history = HistoricalRecords()

    class Meta:
        ordering = ["paragraph", "order", "id"]
        constraints = [models.UniqueConstraint(fields=["paragraph", "claim"], name="rebuttal_paragraph_claim_unique")]

    def __str__(self) -> str:
        return f"{self.paragraph.key}: {self.claim.key}"
