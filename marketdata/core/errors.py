"""Errors that point at one row (or the whole file) of user-supplied data."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem in uploaded or fetched data.

    `row` is the 1-based data-record number the problem was found in, or None when
    it concerns the whole file (a missing column, an unsupported format, ...).
    `field` names the column or parameter at fault (`timestamp`, `high`, `file`,
    `tz`, ...); `message` says what is wrong in words a user can act on.
    """

    row: int | None
    field: str
    message: str

    def as_dict(self) -> dict[str, int | str | None]:
        """Return the `{row, field, message}` shape the API puts in `errors`."""
        return {"row": self.row, "field": self.field, "message": self.message}
