"""Read one sheet of an Excel workbook as text rows, numbered as Excel numbers them.

Produces `read_sheet`: a DataFrame of the sheet's table (the header on
`header_row`, or on the first row that names the source's required columns when
it is not set; data below it after `skip_rows`), every cell as text, and a
`_row_number` column holding the row number Excel shows, so each problem found
later names the row a user opens. Read with fastexcel (the calamine engine that
`polars.read_excel` uses), cell by cell as text:

- ids, codes and phone numbers stay text: a text cell `00017` stays `00017`; a
  cell Excel turned into a number reads as its digits (`17`, `912345678`), not
  `17.0`, and as Excel shows it when its format pads it with zeros (17 formatted
  `00000` is `00017`, as Excel's own CSV export writes it);
- cells of a merged range take the value of its top-left cell (a customer id
  merged over its three order lines is on all three); merges are read from the
  workbook's own sheet XML (.xlsx, .xlsm);
- rows with nothing in them are left out (not rows of data: they are neither
  accepted nor rejected), and the row numbers of the others stay Excel's;
- date columns (`date_kinds`): a cell Excel stores as a date, and a whole
  number of days in Excel's 1900 date system (an unformatted date: 45296 is
  2024-01-05), are written in the source's `date_format` (ISO when it has
  none), so they validate like the text dates beside them.

Every problem (no such file or sheet, an unreadable workbook) is a `SheetError`
with one line naming the sheet, and the sheets the workbook has.
"""

from __future__ import annotations

import html
import re
import zipfile
from collections.abc import Collection
from pathlib import Path, PurePosixPath

import polars as pl

from schemas.inputs import ROW_NUMBER
from sources.text_formats import first_line

# Excel's 1900 date system: serial 1 is 1900-01-01, counted from 1899-12-30 because
# Excel keeps Lotus 1-2-3's phantom 29 February 1900; 2958465 is 9999-12-31.
EPOCH = "1899-12-30"
LAST_SERIAL = 2_958_465
# How fastexcel writes a cell stored as a date or a date-time, when read as text.
DATE_CELL = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)?$"
SERIAL = r"^\d{1,7}(\.\d+)?$"


class SheetError(Exception):
    """The workbook or the sheet cannot be read as configured."""


def read_sheet(
    path: Path,
    *,
    sheet: str | int,
    header_row: int | None = 1,
    skip_rows: int = 0,
    date_columns: Collection[str] = (),
    date_format: str | None = None,
    header_names: Collection[str] = (),
) -> pl.DataFrame:
    """The sheet's rows as text with `_row_number` (Excel's row number).

    Args:
        path: the workbook.
        sheet: the sheet's name, or its position (1 = the first sheet).
        header_row: the Excel row number of the column names (rows above are skipped:
            titles, notes, blank rows); None: the first of the sheet's first 50 rows that
            holds every one of `header_names` (the first row with a value when none given).
        skip_rows: rows right below the header to skip (a second header line of units).
        date_columns: the sheet's columns that hold dates.
        date_format: how the source writes dates as text (None: ISO 8601).
    """
    import fastexcel  # only for Excel sources

    try:
        reader = fastexcel.read_excel(path)
    except Exception as exc:  # fastexcel raises its own errors, and OSError
        raise SheetError(f"cannot read the workbook {path.name}: {first_line(exc)}") from None
    names = list(reader.sheet_names)
    index = _sheet_index(sheet, names, path)
    if header_row is None:
        header_row = _header_row(
            reader, index, header_names, f"sheet {names[index]!r} of {path.name}"
        )
    try:
        loaded = reader.load_sheet(
            index, header_row=header_row - 1, skip_rows=skip_rows or None, dtypes="string"
        )
        frame = loaded.to_polars()
    except Exception as exc:
        raise SheetError(
            f"cannot read sheet {names[index]!r} of {path.name} with its header on row "
            f"{header_row}: {first_line(exc)}"
        ) from None
    if frame.width == 0:
        raise SheetError(f"sheet {names[index]!r} of {path.name} has no header on row {header_row}")
    first_data_row = header_row + skip_rows + 1
    frame = frame.with_row_index(ROW_NUMBER, offset=first_data_row)
    columns = {info.name: info.absolute_index for info in loaded.selected_columns}
    sheet_xml, styles = _sheet_xml(path, index)
    frame = _with_leading_zeros(frame, _zero_padded_cells(sheet_xml, styles), columns)
    frame = _fill_merged_cells(frame, _merged_ranges(sheet_xml), columns, first_data_row)
    blank = pl.all_horizontal(
        pl.col(c).is_null() | (pl.col(c).str.strip_chars() == "") for c in columns
    )
    frame = frame.filter(~blank)
    present = [column for column in date_columns if column in frame.columns]
    return frame.with_columns(_excel_dates(pl.col(c), date_format) for c in present).select(
        ROW_NUMBER, *columns
    )


def sheet_name(path: Path, sheet: str | int) -> str:
    """The name of the sheet `read_sheet` reads (`sheet`: a name, or 1 for the first);
    only a position opens the workbook to look it up."""
    if isinstance(sheet, str):
        return sheet
    import fastexcel

    names = list(fastexcel.read_excel(path).sheet_names)
    return names[_sheet_index(sheet, names, path)]


def _sheet_index(sheet: str | int, names: list[str], path: Path) -> int:
    present = ", ".join(repr(name) for name in names)
    if isinstance(sheet, int):
        if 1 <= sheet <= len(names):
            return sheet - 1
        raise SheetError(
            f"{path.name} has no sheet {sheet} (it has {len(names)}: {present}; sheet = 1 is "
            "the first)"
        )
    if sheet in names:
        return names.index(sheet)
    raise SheetError(f"{path.name} has no sheet {sheet!r}; its sheets: {present}")


HEADER_SEARCH_ROWS = 50


def _header_row(reader: object, index: int, wanted: Collection[str], sheet: str) -> int:
    """The Excel row number of the first row (of the first 50) holding every wanted name."""
    top = reader.load_sheet(  # type: ignore[attr-defined]
        index, header_row=None, skip_rows=0, n_rows=HEADER_SEARCH_ROWS, dtypes="string"
    ).to_polars()
    needed = set(wanted)
    for number, row in enumerate(top.iter_rows(), start=1):
        values = {value.strip() for value in row if value is not None and value.strip()}
        if values and needed <= values:
            return number
    listed = ", ".join(repr(name) for name in sorted(needed))
    raise SheetError(
        f"no row among the first {HEADER_SEARCH_ROWS} of {sheet} holds the columns {listed}: "
        "set header_row to the row of the column names"
    )


def _excel_dates(cell: pl.Expr, date_format: str | None) -> pl.Expr:
    """Date cells and serial numbers as the source writes its dates; other text as read."""
    from_cell = cell.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", strict=False)
    serial = cell.cast(pl.Float64, strict=False)
    from_serial = pl.lit(EPOCH).str.to_datetime("%Y-%m-%d") + pl.duration(
        milliseconds=(serial * 86_400_000).round(0).cast(pl.Int64)
    )
    as_date = (
        pl.when(cell.str.contains(DATE_CELL))
        .then(from_cell)
        .when(cell.str.contains(SERIAL) & serial.is_between(1, LAST_SERIAL))
        .then(from_serial)
    )
    written = as_date.dt.strftime(date_format or "%Y-%m-%d %H:%M:%S")
    return pl.coalesce(written, cell).alias(cell.meta.output_name())


def _fill_merged_cells(
    frame: pl.DataFrame,
    merged: list[tuple[int, int, int, int]],
    columns: dict[str, int],
    first: int,
) -> pl.DataFrame:
    """Every cell of a merged range in the data takes its top-left cell's value (a loop
    over the merged cells, which are few, never over the rows)."""
    by_position = {position: name for name, position in columns.items()}
    fills = []  # (column to fill, its row, the column holding the value, its row)
    for top, left, bottom, right in merged:
        if top < first or left not in by_position:
            continue  # a merged title or header, or a value outside the table read
        for position in range(left, right + 1):
            for row in range(top, bottom + 1):
                if position in by_position and (row, position) != (top, left):
                    fills.append((by_position[position], row, by_position[left], top))
    if not fills:
        return frame
    wanted = pl.DataFrame(
        fills,
        schema={"_column": pl.String, ROW_NUMBER: pl.UInt32, "_from": pl.String, "_top": pl.UInt32},
        orient="row",
    )
    held = frame.unpivot(index=ROW_NUMBER, on=wanted["_from"].unique().sort().to_list()).rename(
        {ROW_NUMBER: "_top", "variable": "_from"}
    )
    filled = (
        wanted.join(held, on=["_from", "_top"])
        .pivot(on="_column", index=ROW_NUMBER, values="value", sort_columns=True)
        .cast({ROW_NUMBER: pl.UInt32})
    )
    return frame.update(filled, on=ROW_NUMBER, how="left")


def _with_leading_zeros(
    frame: pl.DataFrame, padded: list[tuple[int, int, int]], columns: dict[str, int]
) -> pl.DataFrame:
    """Number cells shown with a zero-padded format (`00000`) as Excel shows them: 17 is
    `00017`, as "Save as CSV" writes it (the cells are few columns, joined, not looped)."""
    by_position = {position: name for name, position in columns.items()}
    wanted = [(row, by_position[col], width) for row, col, width in padded if col in by_position]
    if not wanted:
        return frame
    widths = pl.DataFrame(
        wanted,
        schema={ROW_NUMBER: pl.UInt32, "_column": pl.String, "_width": pl.Int64},
        orient="row",
    )
    for name in widths["_column"].unique().sort():
        width = widths.filter(pl.col("_column") == name).select(ROW_NUMBER, "_width")
        frame = (
            frame.join(width, on=ROW_NUMBER, how="left")
            .with_columns(
                pl.when(pl.col(name).str.contains(r"^\d+$") & pl.col("_width").is_not_null())
                .then(pl.col(name).str.zfill(pl.col("_width")))
                .otherwise(pl.col(name))
                .alias(name)
            )
            .drop("_width")
        )
    return frame


def _sheet_xml(path: Path, index: int) -> tuple[str, str]:
    """The `index`th sheet's XML and the workbook's styles, read once for what only they
    hold (merged ranges, number formats); empty for a workbook that is not a zip of XML
    (.xls, .xlsb) or lacks a part."""
    if path.suffix.lower() not in (".xlsx", ".xlsm"):
        return "", ""
    try:
        with zipfile.ZipFile(path) as archive:
            sheet = archive.read(_sheet_part(archive, index)).decode("utf-8", "replace")
            names = set(archive.namelist())
            styles = (
                archive.read("xl/styles.xml").decode("utf-8", "replace")
                if "xl/styles.xml" in names
                else ""
            )
    except (zipfile.BadZipFile, KeyError, OSError):
        return "", ""
    return sheet, styles


def _zero_padded_cells(xml: str, styles: str) -> list[tuple[int, int, int]]:
    """The number cells of a sheet (`xml`) whose format pads them with zeros, as (row
    1-based, column 0-based, width)."""
    padded = _zero_padded_styles(styles)
    if not padded:
        return []
    # Only the cells of a padded style are read, their attributes picked out by polars
    # (a large sheet has hundreds of thousands of them).
    styled = "|".join(re.escape(style) for style in sorted(padded))
    tags = (
        pl.Series([xml], dtype=pl.String)
        .str.extract_all(rf"<(?:[\w.-]+:)?c\b[^>]*\bs\s*=\s*[\"'](?:{styled})[\"'][^>]*>")
        .explode()
        .drop_nulls()
    )
    cells = (
        tags.to_frame("tag")
        .select(
            letters=pl.col("tag").str.extract(r"\br\s*=\s*[\"']\$?([A-Z]+)", 1),
            row=pl.col("tag").str.extract(r"\br\s*=\s*[\"']\$?[A-Z]+\$?(\d+)", 1).cast(pl.Int64),
            style=pl.col("tag").str.extract(r"\bs\s*=\s*[\"']([^\"']*)", 1),
            kind=pl.col("tag").str.extract(r"\bt\s*=\s*[\"']([^\"']*)", 1).fill_null("n"),
        )
        # not a number (text keeps its own zeros), or no reference: not padded
        .filter((pl.col("kind") == "n") & pl.col("row").is_not_null())
    )
    columns = {letters: _cell(f"{letters}1")[0] for letters in cells["letters"].unique()}
    return list(
        zip(
            cells["row"].to_list(),
            cells["letters"].replace_strict(columns, return_dtype=pl.Int64).to_list(),
            cells["style"].replace_strict(padded, return_dtype=pl.Int64).to_list(),
            strict=True,
        )
    )


def _zero_padded_styles(styles: str) -> dict[str, int]:
    """Cell style index (the `s` of a cell) -> width, for the styles whose number format
    is only zeros (`00000`, `"0000000000"`)."""
    formats = {
        number_format["numFmtId"]: len(code.strip('"'))
        for number_format in _tags(styles, "numFmt")
        if "numFmtId" in number_format
        and re.fullmatch(r'"?0{2,}"?', code := number_format.get("formatCode", ""))
    }
    if not formats:
        return {}
    cell_formats = re.search(
        r"<(?:[\w.-]+:)?cellXfs\b[^>]*>(.*?)</(?:[\w.-]+:)?cellXfs>", styles, re.DOTALL
    )
    if cell_formats is None:
        return {}
    return {
        str(position): formats[xf["numFmtId"]]
        for position, xf in enumerate(_tags(cell_formats.group(1), "xf"))
        if xf.get("numFmtId") in formats
    }


def _merged_ranges(xml: str) -> list[tuple[int, int, int, int]]:
    """The merged ranges of a sheet (`xml`) as (top row, left column, bottom row, right
    column): rows 1-based as Excel numbers them, columns 0-based (A = 0)."""
    ranges = []
    for merge in _tags(xml, "mergeCell"):
        reference = re.fullmatch(r"([A-Z]+\d+):([A-Z]+\d+)", merge.get("ref", "").replace("$", ""))
        if reference is None:
            continue
        (left, top), (right, bottom) = (_cell(part) for part in reference.groups())
        ranges.append((top, left, bottom, right))
    return ranges


def _tags(xml: str, name: str) -> list[dict[str, str]]:
    """The attributes of every `<name …>` element of `xml` (any namespace prefix, any
    attribute order, entities such as &quot; decoded), in document order. Attribute
    names lose their prefix: `r:id` is `id`."""
    found = []
    for tag in re.finditer(rf"<(?:[\w.-]+:)?{name}\b([^>]*)>", xml):
        attributes = re.findall(r'([\w.:-]+)\s*=\s*(?:"([^"]*)"|\'([^\']*)\')', tag.group(1))
        found.append({key.rsplit(":", 1)[-1]: html.unescape(a or b) for key, a, b in attributes})
    return found


def _sheet_part(archive: zipfile.ZipFile, index: int) -> str:
    """The archive path of the `index`th sheet, by the workbook's order and relations."""
    workbook = archive.read("xl/workbook.xml").decode("utf-8", "replace")
    ids = [sheet["id"] for sheet in _tags(workbook, "sheet")]
    relations = archive.read("xl/_rels/workbook.xml.rels").decode("utf-8", "replace")
    targets = {rel["Id"]: rel["Target"] for rel in _tags(relations, "Relationship")}
    target = targets[ids[index]]
    return target.lstrip("/") if target.startswith("/") else str(PurePosixPath("xl") / target)


def _cell(reference: str) -> tuple[int, int]:
    """`B7` as (column 1, row 7)."""
    letters, digits = re.fullmatch(r"([A-Z]+)(\d+)", reference).groups()  # type: ignore[union-attr]
    column = 0
    for letter in letters:
        column = column * 26 + ord(letter) - ord("A") + 1
    return column - 1, int(digits)
