"""validation.icd10_is_billable reads simple_icd_10_cm's plain code list instead of importing the
package (whose import parses a 10 MB XML file); both must give the same answer for every code."""

import warnings

from coverage.validation import _ICD10_RE, icd10_is_billable


def test_it_agrees_with_simple_icd_10_cm_on_every_code_dotted_or_not():
    with warnings.catch_warnings():  # the package uses deprecated importlib.resources calls
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10_cm as cm

    def package_says_billable(code: str) -> bool:
        # as validation asked it before: only well-formed codes reach the package
        if _ICD10_RE.fullmatch(code) is None:
            return False
        return bool(cm.is_valid_item(code) and cm.is_leaf(code) and not cm.is_chapter_or_block(code))

    codes = set(cm.get_all_codes(with_dots=True)) | set(cm.get_all_codes(with_dots=False))
    disagreements = sorted(c for c in codes if icd10_is_billable(c) != package_says_billable(c))
    assert disagreements == []
    assert icd10_is_billable("M48.062") and not icd10_is_billable("M48.06")
