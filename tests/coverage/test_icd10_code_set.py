"""validation.icd10_is_billable reads simple_icd_10_cm's plain code list instead of importing the
package (whose import parses a 10 MB XML file); both must give the same answer for every code but
the categories that share their name with the block holding them, which the package answers for as
blocks and CMS bills as codes."""

import warnings

from coverage.validation import _ICD10_RE, icd10_is_billable

# Three-character categories with no subdivisions, each alone in a block of the same name.
SINGLE_CATEGORY_BLOCKS = ("B20", "F99", "P84", "R99", "Z66")


def test_a_category_alone_in_its_block_and_without_subdivisions_is_billable():
    for code in SINGLE_CATEGORY_BLOCKS:
        assert icd10_is_billable(code), code
    for code in ("B10", "D49", "Z68", "M96"):  # single-category blocks whose category is subdivided
        assert not icd10_is_billable(code), code


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
    assert disagreements == sorted(SINGLE_CATEGORY_BLOCKS)
    assert icd10_is_billable("M48.062") and not icd10_is_billable("M48.06")
