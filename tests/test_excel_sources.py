"""Excel workbooks as sources: a CRM export read cell by cell as text, rows numbered as
Excel numbers them, and a refresh from a workbook equal to one from its CSV twin.

Workbooks are written by real writers (xlsxwriter, openpyxl) the way CRM suites
export: a title row merged above the header, a blank row, dates as date cells, as
bare serial numbers and as text, ids as text with leading zeros and as numbers,
merged cells, empty rows and Vietnamese text.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import polars as pl
import pytest
import xlsxwriter
from pydantic import ValidationError

from config.settings import SourceSettings
from schemas.inputs import SOURCE_COLUMNS
from sources.excel import SheetError, read_sheet
from tests.conftest import invoke_without_prefect, read_view, write

SERIAL_2024_01_05 = 45296  # Excel's 1900 date system


def crm_export(path: Path) -> Path:
    """A customers sheet as a CRM suite exports it, behind a cover sheet."""
    book = xlsxwriter.Workbook(path)
    book.add_worksheet("Tổng quan").write(0, 0, "Báo cáo khách hàng")
    sheet = book.add_worksheet("Khách hàng")
    day = book.add_format({"num_format": "dd/mm/yyyy"})
    sheet.merge_range("A1:D1", "Danh sách khách hàng — xuất ngày 01/06/2024")
    sheet.write_row(2, 0, ["Mã KH", "Tên khách hàng", "Ngày tạo", "Điện thoại"])
    sheet.write_row(3, 0, ["(mã)", "(tên)", "(ngày)", "(số)"])  # a row of units: skipped
    sheet.write_string(4, 0, "00017")
    sheet.write_string(4, 1, "Công ty TNHH Ánh Dương")
    sheet.write_datetime(4, 2, dt.datetime(2024, 1, 5), day)
    sheet.write_number(4, 3, 912345678)  # Excel dropped the leading 0
    sheet.write_number(5, 0, 18)  # an id Excel turned into a number
    sheet.write_string(5, 1, "Nguyễn Văn Bình")
    sheet.write_number(5, 2, SERIAL_2024_01_05)  # a date without a date format
    sheet.write_string(5, 3, "0912 345 678")
    # row 7 is empty
    sheet.merge_range("A8:A9", "KH-0019")  # one id merged over two rows
    sheet.write_string(7, 1, "Lê Minh Châu")
    sheet.write_string(7, 2, "05/02/2024")  # a date typed as text
    sheet.write_string(8, 1, "Lê Minh Châu (chi nhánh)")
    sheet.write_string(8, 2, "   ")
    book.close()
    return path


def test_a_crm_export_reads_as_text_with_excel_row_numbers(tmp_path: Path) -> None:
    rows = read_sheet(
        crm_export(tmp_path / "crm.xlsx"),
        sheet="Khách hàng",
        header_row=3,
        skip_rows=1,
        date_columns=["Ngày tạo"],
        date_format="%d/%m/%Y",
    )
    assert rows.columns == ["_row_number", "Mã KH", "Tên khách hàng", "Ngày tạo", "Điện thoại"]
    assert rows.rows() == [
        (5, "00017", "Công ty TNHH Ánh Dương", "05/01/2024", "912345678"),
        (6, "18", "Nguyễn Văn Bình", "05/01/2024", "0912 345 678"),
        (8, "KH-0019", "Lê Minh Châu", "05/02/2024", None),
        (9, "KH-0019", "Lê Minh Châu (chi nhánh)", "   ", None),
    ]


def test_numbers_shown_zero_padded_read_as_excel_shows_them(tmp_path: Path) -> None:
    path = tmp_path / "padded.xlsx"
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet("KH")
    five, ten = book.add_format({"num_format": "00000"}), book.add_format({"num_format": "0" * 10})
    sheet.write_row(0, 0, ["customer_id", "phone", "name"])
    sheet.write_number(1, 0, 17, five)  # shown 00017
    sheet.write_number(1, 1, 912345678, ten)  # shown 0912345678
    sheet.write_string(1, 2, "Công ty Á")
    sheet.write_string(2, 0, "00018")  # text keeps its zeros
    sheet.write_number(2, 1, 987654321)  # no format: the number as it is
    sheet.write_number(3, 0, 123456, five)  # wider than the format: as it is
    book.close()
    rows = read_sheet(path, sheet="KH").select("customer_id", "phone").rows()
    assert rows == [("00017", "0912345678"), ("00018", "987654321"), ("123456", None)]


def test_an_openpyxl_workbook_keeps_its_merges_and_zero_padded_numbers(tmp_path: Path) -> None:
    # openpyxl writes its relations Target before Id, and a quoted format as &quot;
    path = tmp_path / "openpyxl.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "KH"
    sheet.append(["customer_id", "phone", "name"])
    sheet.append([17, 912345678, "A"])
    sheet["A2"].number_format = "00000"
    sheet["B2"].number_format = '"0000000000"'
    sheet.append(["X1", None, "B"])
    sheet.append([None, None, "C"])
    sheet.merge_cells("A3:A4")
    book.save(path)
    assert read_sheet(path, sheet="KH").rows() == [
        (2, "00017", "0912345678", "A"),
        (3, "X1", None, "B"),
        (4, "X1", None, "C"),
    ]


def test_zero_pad_gives_codes_their_zeros_back_and_names_only_known_columns(
    tmp_path: Path,
) -> None:
    from sources.extract import SourceError, read_source

    path = write(
        tmp_path / "orders.csv",
        "customer_id,order_date,amount\n17,2024-01-01,1\n00018,2024-01-01,1\n"
        "KH-19,2024-01-01,1\n,2024-01-01,1\n123456,2024-01-01,1\n",
    )
    padded = read_source("orders", SourceSettings(path=path, zero_pad={"customer_id": 5}))
    assert padded["customer_id"].to_list() == ["00017", "00018", "KH-19", None, "123456"]
    with pytest.raises(SourceError, match=r"sources.orders.zero_pad: 'customer' is not a column"):
        read_source("orders", SourceSettings(path=path, zero_pad={"customer": 5}))


def test_sheets_by_position_and_dates_in_iso_without_a_format(tmp_path: Path) -> None:
    rows = read_sheet(
        crm_export(tmp_path / "crm.xlsx"),
        sheet=2,
        header_row=3,
        skip_rows=1,
        date_columns=["Ngày tạo"],
    )
    assert rows["Ngày tạo"].to_list() == [
        "2024-01-05 00:00:00",
        "2024-01-05 00:00:00",
        "05/02/2024",  # text stays as written: validation judges it
        "   ",
    ]


def test_a_wrong_sheet_names_the_sheets_there_are(tmp_path: Path) -> None:
    book = crm_export(tmp_path / "crm.xlsx")
    with pytest.raises(
        SheetError,
        match=r"crm.xlsx has no sheet 'Khach hang'; its sheets: 'Tổng quan', 'Khách hàng'",
    ):
        read_sheet(book, sheet="Khach hang")
    with pytest.raises(SheetError, match=r"crm.xlsx has no sheet 3 \(it has 2: "):
        read_sheet(book, sheet=3)


def test_an_openpyxl_workbook_with_a_fractional_serial_and_a_datetime_cell(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Orders"
    sheet.append(["order_date", "customer_id"])
    sheet.append([dt.datetime(2024, 3, 1, 14, 30), "C1"])
    sheet.append([SERIAL_2024_01_05 + 0.75, "C2"])  # 18:00 on 2024-01-05
    sheet.append(["2024-01-06", "C3"])
    book.save(tmp_path / "orders.xlsx")
    rows = read_sheet(tmp_path / "orders.xlsx", sheet="Orders", date_columns=["order_date"])
    assert rows.rows() == [
        (2, "2024-03-01 14:30:00", "C1"),
        (3, "2024-01-05 18:00:00", "C2"),
        (4, "2024-01-06", "C3"),
    ]


def test_without_a_header_row_the_row_naming_the_columns_is_the_header(tmp_path: Path) -> None:
    book = crm_export(tmp_path / "crm.xlsx")
    found = read_sheet(book, sheet="Khách hàng", header_row=None, header_names=["Mã KH"])
    assert found["_row_number"].to_list()[:2] == [4, 5]  # header on row 3, after the title
    with pytest.raises(
        SheetError,
        match=r"no row among the first 50 of sheet 'Khách hàng' of "
        r"crm.xlsx holds the columns 'Mã KH', 'Mã số thuế': set header_row",
    ):
        read_sheet(book, sheet="Khách hàng", header_row=None, header_names=["Mã KH", "Mã số thuế"])


def test_sheet_settings_belong_to_workbooks() -> None:
    assert SourceSettings(path=Path("crm.xlsx")).file_format == "excel"
    assert SourceSettings(path=Path("crm.XLSM"), sheet="KH", header_row=3).file_format == "excel"
    with pytest.raises(ValidationError, match="apply to an Excel file only"):
        SourceSettings(path=Path("orders.csv"), sheet=2)


# --- a refresh from a workbook equals one from its CSV twin ---------------------------------


def excel_twin(
    csv: Path, book: xlsxwriter.Workbook, sheet_name: str, source: str, *, padded: bool = True
) -> None:
    """Write `csv` into a sheet as a CRM suite would: a merged title, a blank row, the header
    on row 3; numbers as numbers, dates as date cells or bare serials (alternately), codes
    with leading zeros (tax codes, phones) as numbers shown zero-padded, other ids and text
    as text; and one id merged over its next row where the two are the same."""
    frame = pl.read_csv(csv, infer_schema=False)
    kinds = {column.name: column.kind for column in SOURCE_COLUMNS[source]}
    sheet = book.add_worksheet(sheet_name)
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    sheet.merge_range(0, 0, 0, max(frame.width - 1, 1), f"{sheet_name} — xuất từ CRM")
    sheet.write_row(2, 0, frame.columns)
    merged = False
    for index, row in enumerate(frame.iter_rows()):
        excel_row = 3 + index
        for position, (column, value) in enumerate(zip(frame.columns, row, strict=True)):
            kind = kinds.get(column)
            if value is None:
                continue
            if kind in ("money", "number", "integer"):
                sheet.write_number(excel_row, position, float(value))
            elif kind in ("date", "datetime"):
                moment = dt.datetime.fromisoformat(value)
                if index % 2:
                    sheet.write_datetime(excel_row, position, moment, stamp)
                else:
                    serial = (moment - dt.datetime(1899, 12, 30)).total_seconds() / 86_400
                    sheet.write_number(excel_row, position, serial)
            elif value.isdigit() and value.startswith("0") and len(value) > 1:
                # a code with leading zeros as Excel keeps it: a number shown zero-padded,
                # or (not `padded`) a plain number, the zeros lost
                shown = book.add_format({"num_format": "0" * len(value)}) if padded else None
                sheet.write_number(excel_row, position, int(value), shown)
            else:
                sheet.write_string(excel_row, position, value)
        following = frame.row(index + 1) if index + 1 < frame.height else None
        if not merged and following is not None and following[0] == row[0]:
            sheet.merge_range(excel_row, 0, excel_row + 1, 0, row[0])
            merged = True


def refresh(config: Path) -> None:
    done = invoke_without_prefect(["refresh", "--config", str(config), "--as-of", "2026-06-30"])
    assert done.exit_code == 0, done.output[-3000:]


TABLES = (
    "customer_segments",
    "tier_summary",
    "pareto_summary",
    "pareto_curve",
    "segment_summary",
    "personas",
    "persona_cards",
    "attribute_mix",
)


def published(folder: Path) -> dict[str, list[tuple]]:
    """Every row of the tables, in order; the two configs differ (so do their hashes,
    which each customer's reason quotes)."""
    without_hash = "regexp_replace(reason, 'config [0-9a-f]+', 'config')"
    return {
        table: sorted(
            read_view(
                folder,
                f"select * exclude (refresh_id) replace ({without_hash} as reason) "
                f"from personas.{table}"
                if table == "customer_segments"
                else f"select * exclude (refresh_id) from personas.{table}",
            ),
            key=repr,
        )
        for table in TABLES
    }


@pytest.mark.parametrize("padded", [True, False], ids=["zero-padded format", "zeros lost"])
def test_a_workbook_refreshes_to_the_same_tables_as_its_csv_twin(
    tmp_path: Path, padded: bool
) -> None:
    demo = tmp_path / "csv"
    done = invoke_without_prefect(
        ["demo", "--dir", str(demo), "--customers", "300", "--order-lines", "3000"]
    )
    assert done.exit_code == 0, done.output[-3000:]
    twin = tmp_path / "excel"
    (twin / "data").mkdir(parents=True)
    book = xlsxwriter.Workbook(twin / "data" / "crm.xlsx")
    excel_twin(demo / "data" / "orders.csv", book, "Đơn hàng", "orders", padded=padded)
    excel_twin(demo / "data" / "customers.csv", book, "Khách hàng", "customers", padded=padded)
    book.close()
    # where Excel lost the zeros of the 6-digit customer ids, the config gives them back
    pad = "" if padded else "\nzero_pad = { customer_id = 6 }"
    config = (demo / "personas.toml").read_text(encoding="utf-8")
    config = config.replace(
        'path = "data/orders.csv"',
        f'path = "data/crm.xlsx"\nsheet = "Đơn hàng"\nheader_row = 3{pad}',
    ).replace(
        'path = "data/customers.csv"',
        f'path = "data/crm.xlsx"\nsheet = "Khách hàng"\nheader_row = 3{pad}',
    )
    for other in ("contacts", "products", "leads", "feedback"):
        config = config.replace(
            f'"data/{other}.csv"', f'"{(demo / "data" / other).as_posix()}.csv"'
        )
    write(twin / "personas.toml", config)
    refresh(demo / "personas.toml")
    refresh(twin / "personas.toml")
    ours, theirs = published(twin), published(demo)
    for table in TABLES:
        differing = [(a, b) for a, b in zip(ours[table], theirs[table], strict=True) if a != b]
        assert differing[:2] == [], table
    assert read_view(twin, "select count(*) from personas.quarantine") == [(0,)]


def test_a_bad_cell_is_quarantined_with_its_sheet_and_excel_row(tmp_path: Path) -> None:
    # no header_row in the config: the row naming the mapped columns (row 2) is the header
    book = xlsxwriter.Workbook(tmp_path / "sales.xlsx")
    sheet = book.add_worksheet("Bán hàng")
    sheet.write(0, 0, "Doanh số quý 2")
    sheet.write_row(1, 0, ["Mã KH", "Ngày", "Thành tiền"])
    lines = [("00017", "2024-04-01", 1_500_000), ("00018", "2024-04-02", "một triệu")]
    lines += [(f"{19 + i:05d}", "2024-04-03", 250_000 * (i + 1)) for i in range(200)]
    for index, line in enumerate(lines):
        sheet.write_row(2 + index + (index > 0), 0, line)  # row 4 is left empty
    book.close()
    config = write(
        tmp_path / "personas.toml",
        """[sources.orders]
path = "sales.xlsx"
sheet = "Bán hàng"
[sources.orders.columns]
customer_id = "Mã KH"
order_date = "Ngày"
amount = "Thành tiền"
""",
    )
    refresh(config)
    assert read_view(
        tmp_path,
        'select source, row_number, key, "column", value, action, sheet from personas.quarantine',
    ) == [("orders", 5, "00018", "amount", "một triệu", "row rejected", "Bán hàng")]
    (customers,) = read_view(
        tmp_path, "select count(*), min(customer_id) from personas.customer_segments"
    )
    assert customers == (201, "00017")


def test_formulas_read_as_their_saved_values_and_error_cells_as_empty(tmp_path: Path) -> None:
    book = xlsxwriter.Workbook(tmp_path / "odd.xlsx")
    sheet = book.add_worksheet("S")
    sheet.write_row(0, 0, ["customer_id", "amount", "paid"])
    sheet.write_row(1, 0, ["C1", 10, True])
    sheet.write(2, 0, "C2")
    sheet.write_formula(2, 1, "=1/0", None, "#DIV/0!")
    sheet.write(3, 0, "C3")
    sheet.write_formula(3, 1, "=2*5", None, 10)
    book.close()
    assert read_sheet(tmp_path / "odd.xlsx", sheet="S").rows() == [
        (2, "C1", "10", "true"),
        (3, "C2", None, None),
        (4, "C3", "10", None),
    ]
