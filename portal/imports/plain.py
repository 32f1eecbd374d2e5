"""The plainly valid rows of a big household or resident list, checked and written in one step.

A register of a million rows is nearly all clean rows: a serial number, a name, an 18-character
ID number in a text cell, perhaps a sex that agrees with it, a mobile number or none, a community
code, an address. Taken the general way — shaped into a SourceRow (reading.Table.shaper),
validated (validation.household_row), written as a COPY line (apply.stage_line) — such a row
costs about 16 µs on this kind of machine, mostly in building and reading dicts and in calls: 8 s
on each of two cores for a million rows. `household_lines` reads the same cells straight from the
row as the reader gave it and writes the same line in about 9 µs.

It only ever says yes. Whatever it is not sure of makes it return None: a cell of another type
than text, a blank first cell or one that marks a total or a footer, an ID number that is
not already clean and valid or that this band has seen, a missing or over-long name, a sex or a
birth date that disagrees with the ID number, a phone that is not a plain mobile number, a
household-register cell, a region the resolver refuses. The row then goes the general way, which
accepts it with the same line or rejects it with its reason. tests/test_import_plain.py checks on
generated rows, each trap in an otherwise plain row, that both ways give the same lines,
rejections, keys and counts.
"""

from __future__ import annotations

from collections.abc import Callable

from portal.imports.apply import stage_values
from portal.imports.reading import not_data
from portal.imports.validation import MAX_ADDRESS, MAX_NAME, SEX_WORDS, birth_day, parse_date
from portal.persons.idnumbers import day_key, is_clean_and_valid
from portal.phones import is_clean_mobile


def household_lines(
    fields: dict[str, int], context, seen: dict
) -> Callable[[int, list], str | None]:
    """A function taking (Excel row number, row as read) to the row's COPY line (apply.FIELDS)
    when the row is plainly valid, recording its ID number in `seen`; else to None.

    `fields`: the table's column map (field → 0-based column). Only for tables whose merged
    cells do not reach the data (reading.Table.merges_data is False): the general way fills
    merged values down, this one does not."""
    width = max(fields.values()) + 1
    id_col, name_col = fields["id_number"], fields["name"]
    sex_col, birth_col = fields.get("sex"), fields.get("birth_date")
    phone_col, region_col = fields.get("phone"), fields.get("region")
    hukou_col, address_col = fields.get("hukou_region"), fields.get("address")
    today_key = day_key(context.today)
    resolve = context.resolver.resolve

    def line(number: int, row: list) -> str | None:
        if len(row) < width:
            return None
        # The first cell decides, as in Table.shaper, whether the row is data at all.
        first = row[0]
        if first.__class__ is str:
            if not first or first.isspace() or not_data(first):
                return None
        elif first is None or first == "":
            return None
        id_number = row[id_col]
        if not is_clean_and_valid(id_number, today_key) or id_number in seen:
            return None
        name = row[name_col]
        if name.__class__ is not str:
            return None
        name = name.strip()
        if not name or len(name) > MAX_NAME or name[0] == "'":  # '=…: reading.Table.shaper
            return None
        sex = "1" if id_number[16] in "13579" else "2"  # as household_row: odd is male
        if sex_col is not None:
            given = row[sex_col]
            if given.__class__ is not str:
                return None
            given = given.strip()
            if given and SEX_WORDS.get(given) != sex:
                return None
        if birth_col is not None:
            given = row[birth_col]
            if given != "" and given is not None and parse_date(given) != birth_day(id_number):
                return None
        phone = row[phone_col] if phone_col is not None else None
        if not is_clean_mobile(phone):
            if phone != "" and phone is not None:
                return None
            phone = None
        code, error = resolve(row[region_col] if region_col is not None else None)
        if error:
            return None
        if hukou_col is not None and row[hukou_col] != "" and row[hukou_col] is not None:
            return None
        address = row[address_col] if address_col is not None else None
        if address.__class__ is str:
            if address[:1] == "'":  # perhaps neutralised by our export: the general way
                return None
            address = address.strip()[:MAX_ADDRESS] or None
        elif address is not None:
            return None
        seen[id_number] = number
        born = f"{id_number[6:10]}-{id_number[10:12]}-{id_number[12:14]}"  # validated: a real day
        return stage_values(number, id_number, name, sex, born, phone, code, None, address)

    return line
