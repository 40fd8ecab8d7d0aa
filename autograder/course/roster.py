"""
The class roster an instructor may give `grade --roster FILE`: a CSV with one row per student and the
columns `id`, `first name`, `last name` and `email` (spelt with spaces, underscores or in any case;
only `id` is required). Names go into nbgrader's gradebook, so the Formgrader lists students by name,
and into the LMS files (autograder/outputs/lms.py).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from autograder.course.config import CourseError

COLUMNS = ("id", "first_name", "last_name", "email")
ALIASES = {"e_mail": "email", "student_id": "id", "firstname": "first_name", "lastname": "last_name"}
MAX_ROSTER_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class Student:
    id: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""

    @property
    def sortable_name(self) -> str:
        """ "Last, First" as Canvas writes it, or the id when the roster has no name."""
        if self.last_name and self.first_name:
            return f"{self.last_name}, {self.first_name}"
        return self.last_name or self.first_name or self.id


Roster = dict[str, Student]


def _column(name: str) -> str:
    key = "_".join(name.strip().lower().replace("-", " ").split())
    return ALIASES.get(key, key)


def load_roster(path: Path | None) -> Roster:
    if path is None:
        return {}
    try:
        if path.stat().st_size > MAX_ROSTER_BYTES:
            raise CourseError(f"the roster {path} is larger than {MAX_ROSTER_BYTES // 1024 // 1024} MB")
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise CourseError(f"cannot read the roster {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise CourseError(f"the roster {path} is not UTF-8 text (save it from the spreadsheet as CSV UTF-8)") from None
    rows = csv.DictReader(text.splitlines())
    fields = {_column(name): name for name in rows.fieldnames or []}
    if "id" not in fields:
        raise CourseError(
            f"the roster {path} has no `id` column: its first line should read id,first name,last name,email"
        )
    roster: Roster = {}
    for number, row in enumerate(rows, 2):
        values = {key: (row.get(fields[key]) or "").strip() for key in COLUMNS if key in fields}
        if not values["id"]:
            raise CourseError(f"the roster {path}, line {number}: no student id")
        if values["id"] in roster:
            raise CourseError(f"the roster {path}, line {number}: the id {values['id']!r} appears twice")
        roster[values["id"]] = Student(**values)
    return roster
