"""`manage.py check_case PATH [--payer CODE]` as the contract describes it: the determination as JSON
on stdout and exit 0 whatever the decision; invalid input exits 2 with nothing on stdout and one
`dotted.path: problem` line per problem on stderr, never a traceback. Run in-process and, to prove no
traceback reaches a user's terminal, as a real `python manage.py` process on a seeded SQLite file."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from sample_case import CONTRACT, SAMPLE, contract_example

EXAMPLES = CONTRACT
MANAGE = Path(settings.BASE_DIR) / "manage.py"


def example(name: str = SAMPLE) -> dict:
    return contract_example(name)


def write(tmp_path: Path, data, name: str = "case.json") -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return str(path)


def run(capsys, *args: str) -> tuple[int, str, str]:
    try:
        call_command("check_case", *args)
        code = 0
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def with_problems() -> dict:
    data = example()
    data["provider"]["npi"] = "1234567890"
    data["clinical"]["imaging"]["ligamentum_flavum_mm"] = 31
    data["procedure"]["levels"] = ["L4-L5", "L4L5"]
    data["clinical"]["conservative_care"][1]["outcome"] = "gone"
    return data


PROBLEM_PATHS = [
    "provider.npi",
    "procedure.levels.1",
    "clinical.imaging.ligamentum_flavum_mm",
    "clinical.conservative_care.1.outcome",
]


def assert_refused(code: int, out: str, err: str, paths: list[str]) -> None:
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == paths
    assert all(len(line.split(": ", 1)) == 2 and line.split(": ", 1)[1] for line in lines)


def test_it_prints_the_determination_of_a_case_file_and_exits_0(seeded, tmp_path, capsys):
    code, out, err = run(capsys, write(tmp_path, example()))
    assert (code, err) == (0, "")
    determination = json.loads(out)
    assert determination["decision"] == "meets_criteria"
    assert determination["payer"] == "medicare"
    assert determination["policy"]["code"] == "NCD 150.13"
    assert determination["policy"]["revision"] == 1


def test_it_exits_0_whatever_the_decision(seeded, tmp_path, capsys):
    code, out, err = run(capsys, write(tmp_path, example("ligament-too-thin")))
    assert (code, err) == (0, "")
    assert json.loads(out)["decision"] == "not_met"


def test_it_reads_the_case_from_standard_input(seeded, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(example("imaging-missing"))))
    code, out, err = run(capsys, "-")
    assert (code, err) == (0, "")
    assert json.loads(out)["decision"] == "incomplete"


def test_the_payer_option_overrides_the_case_payer(seeded, tmp_path, capsys):
    code, out, _ = run(capsys, write(tmp_path, example()), "--payer", "commercial")
    determination = json.loads(out)
    assert code == 0
    assert determination["payer"] == "commercial"
    assert determination["payer_rules"]["decision"] == "not_met"


def test_the_payer_option_fills_a_case_without_a_payer(seeded, tmp_path, capsys):
    data = example()
    del data["payer"]
    code, out, _ = run(capsys, write(tmp_path, data), "--payer", "tricare")
    assert code == 0
    assert json.loads(out)["payer"] == "tricare"


def test_it_refuses_an_unknown_payer_option_naming_the_payer_field(seeded, tmp_path, capsys):
    code, out, err = run(capsys, write(tmp_path, example()), "--payer", "acme")
    assert_refused(code, out, err, ["payer"])
    assert "unknown payer 'acme'" in err and "medicare" in err


def test_it_names_every_invalid_field_on_its_own_line(seeded, tmp_path, capsys):
    code, out, err = run(capsys, write(tmp_path, with_problems()))
    assert_refused(code, out, err, PROBLEM_PATHS)
    assert "clinical.imaging.ligamentum_flavum_mm: must be between 0 and 30" in err.splitlines()


def test_it_refuses_a_file_that_is_not_json(seeded, tmp_path, capsys):
    code, out, err = run(capsys, write(tmp_path, '{"payer": "medicare",'))
    assert_refused(code, out, err, ["(root)"])
    assert "invalid JSON at line 1" in err


def test_it_refuses_json_that_is_not_an_object(seeded, tmp_path, capsys):
    code, out, err = run(capsys, write(tmp_path, "[1, 2]"))
    assert_refused(code, out, err, ["(root)"])
    assert "must be a JSON object" in err


def test_it_refuses_json_nested_deeper_than_the_decoder_allows(seeded, tmp_path, capsys):
    code, out, err = run(capsys, write(tmp_path, "[" * 100_000 + "]" * 100_000))
    assert_refused(code, out, err, ["(root)"])


def test_it_refuses_a_path_it_cannot_read(seeded, tmp_path, capsys):
    missing = str(tmp_path / "nowhere.json")
    code, out, err = run(capsys, missing)
    assert_refused(code, out, err, [missing])
    assert "cannot read the file" in err
    code, out, err = run(capsys, str(tmp_path))
    assert_refused(code, out, err, [str(tmp_path)])


def test_it_refuses_a_file_that_is_not_utf8(seeded, tmp_path, capsys):
    path = tmp_path / "latin1.json"
    path.write_bytes('{"payer": "médicare"}'.encode("latin-1"))
    code, out, err = run(capsys, str(path))
    assert_refused(code, out, err, [str(path)])
    assert "not UTF-8" in err


# --------------------------------------------------------------------------- as a real process


@pytest.fixture(scope="module")
def seeded_sqlite(tmp_path_factory) -> dict[str, str]:
    """The environment of a process whose DATABASE_URL is an SQLite file migrated and seeded by
    the real commands, with no Redis (so nothing but the file is shared with this test run)."""
    db = tmp_path_factory.mktemp("check_case") / "registry.sqlite3"
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CI")}
    env["DATABASE_URL"] = f"sqlite:///{db}"
    for command in (["migrate", "--noinput"], ["seed_policies"]):
        done = subprocess.run(
            [sys.executable, str(MANAGE), *command], env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
    return env


def manage(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(MANAGE), "check_case", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_real_process_prints_the_determination_and_exits_0(seeded_sqlite, tmp_path):
    done = manage(seeded_sqlite, write(tmp_path, example()))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    determination = json.loads(done.stdout)
    assert determination["decision"] == "meets_criteria"
    assert determination["policy"]["revision"] == 1  # the seeded version, not the shipped file


def test_a_real_process_refuses_invalid_fields_without_a_traceback(seeded_sqlite, tmp_path):
    done = manage(seeded_sqlite, write(tmp_path, with_problems()))
    assert_refused(done.returncode, done.stdout, done.stderr, PROBLEM_PATHS)


@pytest.mark.parametrize(
    ("stdin", "paths"),
    [
        ("not json", ["(root)"]),
        ("", ["(root)"]),
        ("null", ["(root)"]),
        ('{"payer": "acme", "surprise": 1}', ["payer", "surprise"]),
    ],
)
def test_a_real_process_refuses_bad_standard_input_without_a_traceback(seeded_sqlite, stdin, paths):
    done = manage(seeded_sqlite, "-", stdin=stdin)
    assert_refused(done.returncode, done.stdout, done.stderr, paths)


def test_a_real_process_refuses_an_unreadable_path_without_a_traceback(seeded_sqlite, tmp_path):
    missing = str(tmp_path / "nowhere.json")
    done = manage(seeded_sqlite, missing)
    assert_refused(done.returncode, done.stdout, done.stderr, [missing])
