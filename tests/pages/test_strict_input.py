"""Input never changes silently: numbers read strictly ("1,5" is 1.5 and the page says so, never
15), impossible dates named where typed, errors in staff's words next to their field."""

from __future__ import annotations

import pytest
from test_request_pages import error_of, form_data

from priorauth.models import AuthorizationRequest
from priorauth.pages.strict_input import read_number

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("text", "unit", "value", "note"),
    [
        ("4.1", "mm", 4.1, ""),
        ("1,5", "mm", 1.5, "Read as 1.5 mm."),
        ("4,2mm", "mm", 4.2, "Read as 4.2 mm."),
        ("4.2 mm", "mm", 4.2, "Read as 4.2 mm."),
        (" 9 ", "months", 9.0, ""),  # surrounding spaces change nothing
        ("", "mm", None, ""),
    ],
)
def test_it_reads_a_number_strictly_and_says_how(text, unit, value, note):
    assert read_number(text, unit=unit) == (value, note)


@pytest.mark.parametrize("text", ["e", "1e3", "1,234.5", "1.2.3", "4,2 cm", "--1", "½"])
def test_it_refuses_what_is_not_plainly_a_number(text):
    with pytest.raises(ValueError, match="is not a number"):
        read_number(text, unit="mm")


def test_a_comma_decimal_is_saved_as_that_decimal_and_echoed(client_for, world):
    response = client_for(world.alice).post(
        "/requests/new/",
        form_data(world, clinical__imaging__ligamentum_flavum_mm="1,5", save="1"),
        follow=True,
    )
    request = AuthorizationRequest.objects.get()
    assert request.case["clinical"]["imaging"]["ligamentum_flavum_mm"] == 1.5  # never 15
    assert "Ligamentum flavum thickness (mm): Read as 1.5 mm." in response.content.decode()


def test_a_letter_in_a_weeks_field_and_an_impossible_date_are_named_at_their_field(client_for, world):
    response = client_for(world.alice).post(
        "/requests/new/",
        form_data(
            world,
            **{
                "care-0-weeks": "e",
                "clinical__imaging__date": "2026-02-30",
                "save": "1",
            },
        ),
    )
    assert response.status_code == 200 and AuthorizationRequest.objects.count() == 0
    html = response.content.decode()
    assert error_of(html, "id_clinical__imaging__date") == "This is not a real date: check the month and the day."
    assert "“e” is not a number" in error_of(html, "id_care-0-weeks")
    assert 'inputmode="decimal"' in html and 'id="id_clinical__imaging__ligamentum_flavum_mm"' in html
