"""Customer records with planted duplicates: a known truth for identity resolution.

Produces `planted_duplicates(customers, duplicate_share, seed)`: a frame of
customers records (customer_id, name, tax_code, email, phone, address, city)
and, beside each, `true_customer` (the customer the record really is). A
`duplicate_share` of the customers gets a second record, made the ways a second
account is made by hand in a CRM: the same tax code, e-mail or phone written
differently (`0912 345 678` for `0912345678`, the leading 0 dropped, upper-case
e-mail), and the name abbreviated, unaccented, mistyped or after a title ("Anh",
"Chị"), sometimes without
any shared key at all (only the name and the address say it is the same: a typo
in the name, or the whole record retyped without accents, the address spelled
out, "Số 12 Đường Lê Lợi", and the city written another way, "Thanh pho Ho Chi
Minh" for "TP HCM"). The
other customers are distinct, including companies of similar names in other
cities. Seeded: the same seed gives the same records.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import polars as pl

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi",
          "Đỗ", "Hồ", "Ngô", "Dương", "Lý"]  # fmt: skip
MIDDLE = ["Văn", "Thị", "Minh", "Ngọc", "Quang", "Thu", "Đức", "Hữu", "Thanh", "Hoài"]
GIVEN = ["An", "Bình", "Châu", "Dũng", "Giang", "Hà", "Hải", "Hạnh", "Hiếu", "Hòa", "Hùng",
         "Khánh", "Lan", "Linh", "Long", "Mai", "Nam", "Nga", "Phúc", "Quân", "Sơn", "Tâm",
         "Thảo", "Trang", "Trung", "Tuấn", "Việt", "Yến"]  # fmt: skip
WORDS = ["Ánh Dương", "Bình Minh", "Sao Việt", "Hưng Thịnh", "Phú Quý", "Đại Phát", "Tân Tiến",
         "Hoàng Long", "Thiên Ân", "Minh Khang", "Kim Ngân", "Trường Sơn", "Hải Âu", "Lạc Hồng",
         "Nam Việt", "Đông Á", "Phương Nam", "Thành Công", "Vạn Xuân", "An Khang"]  # fmt: skip
TRADES = ["Thương mại", "Xây dựng", "Công nghệ", "Vận tải", "Thực phẩm", "Dược phẩm", "May mặc",
          "Nội thất", "Điện máy", "Du lịch"]  # fmt: skip
# How a trade is shortened in a company's name.
TRADE_LETTERS = {"Thương mại": "TM", "Xây dựng": "XD", "Công nghệ": "CN", "Vận tải": "VT"}
# How a city is also written: "TP HCM" is "Thành phố Hồ Chí Minh".
CITY_NAMES = {"TP HCM": "Thành phố Hồ Chí Minh", "Hà Nội": "TP. Hà Nội"}
CITIES = ["Hà Nội", "TP HCM", "Đà Nẵng", "Hải Phòng", "Cần Thơ", "Huế", "Nha Trang", "Vinh"]
STREETS = ["Lê Lợi", "Trần Hưng Đạo", "Nguyễn Huệ", "Hai Bà Trưng", "Lý Thường Kiệt",
           "Phan Chu Trinh", "Điện Biên Phủ", "Cách Mạng Tháng Tám", "Bạch Đằng",
           "Quang Trung"]  # fmt: skip


def _unaccented(text: str) -> str:
    stripped = "".join(
        c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn"
    )
    return stripped.replace("Đ", "D").replace("đ", "d")


def planted_duplicates(customers: int, duplicate_share: float = 0.1, seed: int = 7) -> pl.DataFrame:
    """`customers` distinct customers, a share of them with a second record; see the module."""
    rng = np.random.default_rng(seed)
    # House and company numbers grow with the population, as a real one's addresses and
    # names do: a million customers do not share 32,000 addresses.
    numbers = max(400, customers // 10)
    rows = []
    for index in range(customers):
        city = CITIES[rng.integers(len(CITIES))]
        street = STREETS[rng.integers(len(STREETS))]
        address = f"{rng.integers(1, numbers)} {street}, {city}"
        phone = f"09{rng.integers(10_000_000, 99_999_999)}"
        if rng.random() < 0.6:  # a company
            words = WORDS[rng.integers(len(WORDS))]
            trade = TRADES[rng.integers(len(TRADES))]
            name = f"Công ty TNHH {trade} {words} {rng.integers(1, numbers // 4)}"
            tax = f"0{rng.integers(100_000_000, 999_999_999)}"
            email = f"info{index}@{_unaccented(words).lower().replace(' ', '')}.vn"
        else:  # a person
            name = " ".join(
                [
                    FAMILY[rng.integers(len(FAMILY))],
                    MIDDLE[rng.integers(len(MIDDLE))],
                    GIVEN[rng.integers(len(GIVEN))],
                ]
            )
            tax = None
            email = f"{_unaccented(name).lower().replace(' ', '.')}{index}@gmail.com"
        rows.append((f"KH-{index:06d}", name, tax, email, phone, address, city, index))
    duplicated = rng.choice(customers, size=int(customers * duplicate_share), replace=False)
    for serial, index in enumerate(sorted(duplicated.tolist())):
        _, name, tax, email, phone, address, city, _ = rows[index]
        way = rng.integers(6)
        second = {
            "name": name,
            "tax": None,
            "email": None,
            "phone": None,
            "address": address,
            "city": city,
        }
        if way == 0 and tax is not None:  # the same company code, written with dashes
            second["tax"] = f"{tax[:4]}-{tax[4:7]}-{tax[7:]}"
            second["name"] = name.replace("Công ty TNHH", "Cty")
        elif way == 1:  # the same e-mail, in capitals
            second["email"] = email.upper()
            second["name"] = _unaccented(name)
        elif way == 2:  # the same phone, as a spreadsheet keeps it
            second["phone"] = phone[1:]
        elif way == 3:  # the same phone, spaced, with the country code
            second["phone"] = f"+84 {phone[1:4]} {phone[4:7]} {phone[7:]}"
            # a person as a salesperson writes them: "CHỊ NGUYỄN THỊ LAN"
            title = "" if tax is not None else ("Chị " if " Thị " in name else "Anh ")
            second["name"] = (title + name).upper()
        elif way == 4:  # no shared key: a mistyped name at the same address
            cut = int(rng.integers(1, len(name) - 1))
            second["name"] = name[:cut] + name[cut + 1 :]
        else:  # no shared key: retyped without accents, the address spelled out
            # the legal form spelled out, the trade shortened: "TM" for "Thương mại"
            second["name"] = _unaccented(name).replace(
                "Cong ty TNHH", "Cong ty Trach nhiem huu han"
            )
            for trade, letters in TRADE_LETTERS.items():
                second["name"] = second["name"].replace(_unaccented(trade), letters)
            number, rest = address.split(" ", 1)
            street, _ = rest.split(", ", 1)
            second["city"] = _unaccented(CITY_NAMES.get(city, city))
            second["address"] = _unaccented(f"Số {number} Đường {street}, {second['city']}")
        rows.append(
            (
                f"KH-D{serial:05d}",
                second["name"],
                second["tax"],
                second["email"],
                second["phone"],
                second["address"],
                second["city"],
                index,
            )
        )
    return pl.DataFrame(
        rows,
        schema={
            "customer_id": pl.String,
            "name": pl.String,
            "tax_code": pl.String,
            "email": pl.String,
            "phone": pl.String,
            "address": pl.String,
            "city": pl.String,
            "true_customer": pl.Int64,
        },
        orient="row",
    )


def pair_scores(resolved: pl.DataFrame, truth: pl.DataFrame) -> tuple[float, float]:
    """Precision and recall of the merged pairs: `resolved` (source_id, customer_id)
    against `truth` (customer_id, true_customer), over every pair of records."""
    joined = resolved.join(
        truth.select(pl.col("customer_id").alias("source_id"), "true_customer"), on="source_id"
    )

    def pairs(column: str) -> int:
        sizes = joined.group_by(column).len()["len"]
        return int((sizes * (sizes - 1) // 2).sum())

    found, true = pairs("customer_id"), pairs("true_customer")
    both = joined.group_by("customer_id", "true_customer").len()["len"]
    correct = int((both * (both - 1) // 2).sum())
    return (correct / found if found else 1.0), (correct / true if true else 1.0)
