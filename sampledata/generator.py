"""Deterministic sample CRM and sales data for ``personas demo``, tests and benchmarks.

:func:`generate_sample` writes six source files with canonical column names, one grain each:

* ``orders``: one row per order line; an order has 1–4 lines, all of one customer on one day.
* ``customers``: one row per customer, a B2B company or a B2C person.
* ``contacts``: one row per person at a customer (B2C customers are their own contact).
* ``products``: one row per product of a small fixed catalogue.
* ``leads``: one row per potential customer; about 30% converted into a customer.
* ``feedback``: one row per survey answer, interview note or support ticket.

The data imitate a Vietnamese software vendor selling to companies and consumers: amounts in
VND, Vietnamese names with diacritics next to a few international ones, a long-tailed revenue
distribution (the top 20% of customers make roughly 75–80% of net revenue) and a planted
ideal customer profile (:data:`PLANTED_ICP`) and buyer persona (:data:`PLANTED_BUYER`) that the
pipeline is expected to rediscover among the best customers.

Everything is drawn with numpy from one seed and written with polars, without Python loops over
customers or order lines, so ten million order lines take seconds. The same seed and sizes
always produce byte-identical files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl

__all__ = [
    "PLANTED_BUYER",
    "PLANTED_FEEDBACK",
    "PLANTED_ICP",
    "SAMPLE_END_DATE",
    "SAMPLE_START_DATE",
    "generate_sample",
]

SAMPLE_START_DATE = date(2023, 7, 1)
SAMPLE_END_DATE = date(2026, 6, 30)

# Attribute -> value planted in the top 20% of customers by revenue weight. Only real customer
# columns. customer_type is deliberately absent: B2B is ~60% of all customers, so "B2B" cannot
# also be rare (≤25%) among the other customers; every top customer is B2B anyway.
PLANTED_ICP: dict[str, str] = {
    "industry": "Phần mềm",
    "city": "TP HCM",
    "market_position": "challenger",
    "growth_stage": "fast",
    "attitude_to_technology": "early adopter",
}

# Contact column -> value planted in the decision makers of those top customers.
PLANTED_BUYER: dict[str, str] = {
    "title": "Giám đốc Marketing",
    "level": "N-1",
    "gender": "Nữ",
    "major": "Marketing",
    "preferred_channel": "Zalo",
}

# Feedback column -> value the top customers' answers lean toward.
PLANTED_FEEDBACK: dict[str, str] = {
    "goal": "mở rộng thị trường",
    "pain_point": "dữ liệu khách hàng phân tán",
}

FileFormat = Literal["csv", "parquet"]

# Probability that a top customer (or its decision maker) takes a planted value instead of a
# draw from the base distribution: high enough to stand out, low enough to leave some noise.
_PLANT_RATE = 0.8
_BUYER_PLANT_RATE = 0.8
# Revenue weights are lognormal; with the quantity and package mix of bigger customers on top,
# this sigma puts the top 20% of customers at roughly 75–80% of net revenue.
_WEIGHT_SIGMA = 0.85
_TOP_SHARE = 0.20
_MID_SHARE = 0.30  # next 30% by weight: the "medium" bucket

_EPOCH = date(1970, 1, 1)


def _day(d: date) -> int:
    """Days since 1970-01-01, the integer form polars uses for ``Date``."""
    return (d - _EPOCH).days


_START = _day(SAMPLE_START_DATE)
_END = _day(SAMPLE_END_DATE)

# ---------------------------------------------------------------------------------------------
# Small fixed catalogues. Probabilities need not sum to one; they are normalised when drawn.
# ---------------------------------------------------------------------------------------------

# product_id, name, package, list_price (VND), category, launched_at
_PRODUCTS: tuple[tuple[str, str, str, int, str, date], ...] = (
    ("P001", "CRM Enterprise", "Gold", 20_000_000, "Phần mềm", date(2019, 3, 1)),
    ("P002", "Tư vấn triển khai trọn gói", "Gold", 20_000_000, "Dịch vụ", date(2020, 1, 15)),
    ("P003", "Phân tích dữ liệu nâng cao", "Gold", 20_000_000, "Phần mềm", date(2021, 9, 1)),
    ("P004", "CRM Business", "Silver", 10_000_000, "Phần mềm", date(2019, 3, 1)),
    ("P005", "Tích hợp Zalo OA", "Silver", 10_000_000, "Dịch vụ", date(2021, 4, 1)),
    ("P006", "Đào tạo đội ngũ bán hàng", "Silver", 10_000_000, "Đào tạo", date(2020, 6, 1)),
    ("P007", "CRM Starter", "Bronze", 5_000_000, "Phần mềm", date(2019, 3, 1)),
    ("P008", "Hỗ trợ kỹ thuật 12 tháng", "Bronze", 5_000_000, "Dịch vụ", date(2019, 3, 1)),
    ("P009", "Khóa học Marketing số", "Bronze", 5_000_000, "Đào tạo", date(2022, 2, 1)),
    # Launched late in the window: lines dated before the launch sell P004 instead.
    ("P010", "Trợ lý AI bán hàng", "Silver", 10_000_000, "Phần mềm", date(2026, 5, 1)),
)
_PACKAGES = ("Gold", "Silver", "Bronze")
_LATE_PRODUCT_FALLBACK = {"P010": "P004"}

# city, region, country, base probability (Việt Nam ~90%)
_CITIES: tuple[tuple[str, str, str, float], ...] = (
    ("Hà Nội", "Miền Bắc", "Việt Nam", 0.304),
    ("TP HCM", "Miền Nam", "Việt Nam", 0.2),
    ("Đà Nẵng", "Miền Trung", "Việt Nam", 0.108),
    ("Hải Phòng", "Miền Bắc", "Việt Nam", 0.09),
    ("Cần Thơ", "Miền Nam", "Việt Nam", 0.072),
    ("Huế", "Miền Trung", "Việt Nam", 0.063),
    ("Nha Trang", "Miền Trung", "Việt Nam", 0.063),
    ("Singapore", "Singapore", "Singapore", 0.03),
    ("Bangkok", "Thailand", "Thailand", 0.02),
    ("Tokyo", "Japan", "Japan", 0.02),
    ("München", "Germany", "Germany", 0.015),
    ("Paris", "France", "France", 0.015),
)
_COUNTRIES = ("Việt Nam", "Singapore", "Thailand", "Japan", "Germany", "France")
_CITY_COUNTRY = np.array([_COUNTRIES.index(c[2]) for c in _CITIES])

_INDUSTRIES = ("Phần mềm", "Bán lẻ", "Sản xuất", "Logistics", "Giáo dục", "Y tế", "Tài chính")
_INDUSTRY_P = (0.14, 0.18, 0.20, 0.12, 0.10, 0.10, 0.16)
# Word used in a Vietnamese company name for each industry.
_INDUSTRY_NAME_WORD = (
    "Phần mềm",
    "Thương mại",
    "Sản xuất",
    "Logistics",
    "Giáo dục",
    "Y tế",
    "Đầu tư Tài chính",
)
_MARKET_POSITIONS = ("leader", "challenger", "new entrant")
_MARKET_POSITION_P = (0.2, 0.3, 0.5)
_GROWTH_STAGES = ("declining", "stagnant", "average", "fast", "hyper-growth")
_GROWTH_STAGE_P = (0.1, 0.25, 0.4, 0.2, 0.05)
# Employee bands [low, high) and their probabilities: everyone else vs top customers, who are
# mostly mid-sized (50–199 employees).
_EMPLOYEE_BANDS = ((1, 10), (10, 50), (50, 200), (200, 1000), (1000, 5000))
_EMPLOYEE_BAND_P = ((0.25, 0.35, 0.20, 0.15, 0.05), (0.02, 0.08, 0.78, 0.09, 0.03))
_ACQUISITION_CHANNELS = (
    "website",
    "giới thiệu",
    "hội chợ triển lãm",
    "Facebook Ads",
    "Google Ads",
    "Zalo OA",
    "sales outbound",
    "đối tác",
)
_ACQUISITION_P = (0.2, 0.15, 0.08, 0.15, 0.15, 0.1, 0.1, 0.07)
_ATTITUDES = ("early adopter", "mainstream", "sceptic")
_ATTITUDE_P = (0.2, 0.55, 0.25)
_CORE_VALUES = ("chất lượng", "giá cả", "đổi mới", "bền vững", "uy tín")
# Everyone else vs top customers: a mild, unplanted lean toward innovation.
_CORE_VALUE_P = ((0.25, 0.3, 0.15, 0.1, 0.2), (0.2, 0.1, 0.4, 0.15, 0.15))

_GENDERS = ("Nam", "Nữ")
_EDUCATIONS = ("THPT", "Cao đẳng", "Đại học", "Thạc sĩ", "Tiến sĩ")
_EDUCATION_P_B2C = (0.15, 0.15, 0.5, 0.17, 0.03)
_EDUCATION_P_CONTACT = (0.02, 0.08, 0.6, 0.25, 0.05)
_OCCUPATIONS = (
    "Nhân viên văn phòng",
    "Kỹ sư",
    "Giáo viên",
    "Bác sĩ",
    "Kinh doanh tự do",
    "Sinh viên",
    "Freelancer",
    "Quản lý",
)
_INTERESTS = (
    "du lịch",
    "đọc sách",
    "thể thao",
    "công nghệ",
    "ẩm thực",
    "golf",
    "âm nhạc",
    "đầu tư",
)
_PERSONALITIES = ("quyết đoán", "cẩn trọng", "hướng ngoại", "phân tích", "hòa đồng")
_MAJORS = (
    "Quản trị kinh doanh",
    "Marketing",
    "Tài chính – Ngân hàng",
    "Kế toán",
    "Công nghệ thông tin",
    "Kinh tế",
    "Luật",
    "Kỹ thuật",
)
_PREFERRED_CHANNELS = ("Zalo", "Email", "LinkedIn", "Facebook", "Điện thoại")
_PREFERRED_CHANNEL_P_B2B = (0.25, 0.3, 0.15, 0.1, 0.2)
_PREFERRED_CHANNEL_P_B2C = (0.35, 0.15, 0.0, 0.3, 0.2)

# Contact titles: title, role, level, base probability among decision makers, among others.
_TITLES: tuple[tuple[str, str, str, float, float], ...] = (
    ("Tổng giám đốc", "executive", "N", 0.32, 0.0),
    ("CEO", "executive", "N", 0.12, 0.0),
    ("Founder", "executive", "N", 0.16, 0.0),
    ("Giám đốc Marketing", "marketing", "N-1", 0.08, 0.0),
    ("Giám đốc Tài chính", "finance", "N-1", 0.12, 0.0),
    ("Giám đốc Kinh doanh", "sales", "N-1", 0.12, 0.0),
    ("Head of Procurement", "procurement", "N-1", 0.08, 0.0),
    ("Trưởng phòng Kinh doanh", "sales", "N-2", 0.0, 0.16),
    ("Trưởng phòng Mua hàng", "procurement", "N-2", 0.0, 0.14),
    ("Marketing Manager", "marketing", "N-2", 0.0, 0.14),
    ("Kế toán trưởng", "finance", "N-2", 0.0, 0.12),
    ("IT Manager", "it", "N-2", 0.0, 0.1),
    ("Chuyên viên", "operations", "N-3", 0.0, 0.2),
    ("Sales Executive", "sales", "N-3", 0.0, 0.14),
)
# The major a person in each role most often studied.
_ROLE_MAJOR = {
    "executive": "Quản trị kinh doanh",
    "marketing": "Marketing",
    "finance": "Tài chính – Ngân hàng",
    "sales": "Quản trị kinh doanh",
    "procurement": "Kinh tế",
    "it": "Công nghệ thông tin",
    "operations": "Kỹ thuật",
}

_ORDER_CHANNELS = ("online", "sales rep", "partner", "Zalo")
_ORDER_CHANNEL_P = ((0.5, 0.1, 0.05, 0.35), (0.2, 0.4, 0.2, 0.2))  # B2C, B2B
_ORDER_SIZE_P = (0.45, 0.25, 0.18, 0.12)  # 1, 2, 3, 4 lines
# Package mix and quantity band (1–5, 6–20, 21+) by bucket: top 20%, next 30%, bottom 50%.
_PACKAGE_P = ((0.45, 0.35, 0.20), (0.25, 0.40, 0.35), (0.10, 0.35, 0.55))
_QUANTITY_BAND_P = ((0.6, 0.33, 0.07), (0.80, 0.17, 0.03), (0.92, 0.075, 0.005))
_SMALL_QUANTITY_P = (0.4, 0.25, 0.15, 0.12, 0.08)  # 1..5
_STATUSES = ("completed", "refunded", "cancelled")
_CANCEL_RATE = 0.02  # per order
_RETURN_RATE = 0.02  # per repeat order: all its lines become negative return lines
_REFUND_RATE = 0.02  # per line of the remaining orders: status "refunded"
_DISCOUNT_RATE = 0.15

_LEAD_SOURCES = (
    "website",
    "hội chợ triển lãm",
    "Facebook Ads",
    "Google Ads",
    "giới thiệu",
    "LinkedIn",
    "Zalo OA",
    "cold call",
)
# Unconverted vs converted leads: referrals and events convert better than cold calls.
_LEAD_SOURCE_P = (
    (0.2, 0.08, 0.18, 0.16, 0.06, 0.08, 0.1, 0.14),
    (0.18, 0.14, 0.12, 0.12, 0.2, 0.08, 0.12, 0.04),
)

_FEEDBACK_CHANNELS = ("khảo sát NPS", "phỏng vấn", "ticket hỗ trợ", "Zalo", "email")
_GOALS = (
    "tăng doanh thu",
    "mở rộng thị trường",
    "tự động hóa quy trình",
    "hiểu khách hàng",
    "giảm chi phí",
)
_GOAL_P = ((0.25, 0.1, 0.25, 0.2, 0.2), (0.1, 0.6, 0.1, 0.1, 0.1))  # others, top
_PAIN_POINTS = (
    "giá cao",
    "dữ liệu khách hàng phân tán",
    "khó tích hợp",
    "hỗ trợ chậm",
    "khó sử dụng",
    "thiếu báo cáo",
)
_PAIN_POINT_P = ((0.3, 0.1, 0.15, 0.15, 0.15, 0.15), (0.05, 0.6, 0.15, 0.05, 0.05, 0.1))
# Three sentences per pain point, in _PAIN_POINTS order: two Vietnamese, one English.
_FEEDBACK_TEXTS = (
    "Giá gói Gold hơi cao so với ngân sách của chúng tôi.",
    "Chi phí gia hạn tăng nhanh hơn giá trị nhận được.",
    "Pricing feels steep for a team our size.",
    "Dữ liệu khách hàng nằm rải rác ở Excel, Zalo và email.",
    "Đội kinh doanh không có một nơi chung để xem lịch sử khách hàng.",
    "Our customer data is scattered across too many tools.",
    "Việc tích hợp với phần mềm kế toán mất nhiều thời gian.",
    "Kết nối API với hệ thống cũ còn nhiều lỗi.",
    "Integration with our ERP took longer than expected.",
    "Bộ phận hỗ trợ phản hồi chậm vào cuối tuần.",
    "Tôi phải chờ hai ngày mới được giải đáp.",
    "Support response times are too slow for us.",
    "Giao diện còn khó dùng với nhân viên mới.",
    "Cần quá nhiều bước để tạo một báo giá.",
    "The interface is confusing for new staff.",
    "Thiếu báo cáo doanh thu theo vùng miền.",
    "Muốn xuất báo cáo sang Excel dễ hơn.",
    "We need better reports on revenue by region.",
)
_MOTIVATIONS = (
    "tiết kiệm thời gian",
    "tăng trưởng nhanh",
    "được giới thiệu",
    "yêu cầu của ban lãnh đạo",
    "chuyển đổi số",
)
_INFO_SOURCES = ("Google", "Facebook", "Zalo", "hội thảo", "đồng nghiệp", "LinkedIn", "báo chí")

# Vietnamese person names: family names (weighted like the real distribution), then middle and
# given names by gender (index 0 = Nam, 1 = Nữ).
_FAMILY_NAMES = (
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ",
    "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý",
)  # fmt: skip
_FAMILY_NAME_P = (38, 11, 9.5, 7, 5, 5, 4.5, 4, 4, 2, 2, 1.5, 1.5, 1.3, 1, 0.5)
_MIDDLE_NAMES = (("Văn", "Đức", "Minh", "Quang", "Hữu"), ("Thị", "Ngọc", "Thu", "Thanh", "Minh"))
_GIVEN_NAMES = (
    ("Đức", "Hùng", "Dũng", "Tuấn", "Minh", "Long", "Nam", "Sơn", "Phong", "Hải", "Quân", "Khoa"),
    ("Hương", "Lan", "Mai", "Linh", "Trang", "Hà", "Ngọc", "Thảo", "Phương", "Anh", "Hằng", "Yến"),
)
# International person names by country (in _COUNTRIES order, Việt Nam unused) and gender.
_FOREIGN_PERSON_NAMES: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    ((), ()),
    (
        ("Lim Wei Jie", "Tan Boon Huat", "Rajesh Kumar"),
        ("Lim Wei Ling", "Tan Mei Xin", "Nur Aisyah"),
    ),
    (
        ("Somchai Srisuk", "Anan Chaiyaporn", "Prasert Boonmee"),
        ("Siriporn Wongsa", "Nattaya Kaewkan", "Malee Sukjai"),
    ),
    (("Satō Kenji", "Itō Hiroshi", "Kōno Takeshi"), ("Tanaka Yūko", "Suzuki Aiko", "Saitō Megumi")),
    (
        ("Jürgen Groß", "Søren Ølsen", "Lukas Müller"),
        ("Käthe Weiß", "Anna Köhler", "Lena Schröder"),
    ),
    (
        ("François Lefèvre", "Jérôme Dubois", "Benoît Garçon"),
        ("Zoë Dubois", "Hélène Mercier", "Chloé Lefèvre"),
    ),
)
# Vietnamese company names: legal form + industry word + two-syllable brand.
_LEGAL_FORMS = ("Công ty TNHH", "Công ty Cổ phần", "Công ty TNHH MTV")
_LEGAL_FORM_P = (0.5, 0.4, 0.1)
_BRAND_FIRST = (
    "Minh", "Đại", "Hoàng", "An", "Thành", "Phú", "Hưng", "Tân", "Việt", "Bình",
    "Sao", "Hải", "Trường", "Kim", "Thiên", "Nam", "Quang", "Đông", "Phúc", "Ngọc",
)  # fmt: skip
_BRAND_SECOND = (
    "Phát", "Việt", "Long", "Khang", "Công", "Thịnh", "Mai", "Tiến", "Minh", "An",
    "Sơn", "Hà", "Thành", "Lộc", "Hưng", "Á", "Dương", "Phong", "Nguyên", "Tín",
)  # fmt: skip
# International company names by country: stems and legal suffixes (Việt Nam unused).
_FOREIGN_COMPANY_STEMS = (
    (),
    ("Lion City", "Marina Bay", "Tan & Lim", "Orchard", "Straits"),
    ("Siam", "Chao Phraya", "Bangkok Supply", "Lanna", "Sukhumvit"),
    ("Tanaka Shōji", "Yamamoto Kōgyō", "Satō Denki", "Itō Seisakusho", "Kōno Trading"),
    ("Müller", "Schäfer", "Köhler", "Groß", "Weiß"),
    ("Lefèvre", "Dubois", "Mercier", "Garçon", "Bélanger"),
)
_FOREIGN_COMPANY_SUFFIXES = (
    (),
    ("Pte. Ltd.", "Trading Pte. Ltd.", "Holdings"),
    ("Co., Ltd.", "Public Co.", "Group"),
    ("K.K.", "Co., Ltd.", "G.K."),
    ("GmbH", "AG", "& Söhne KG"),
    ("SARL", "SAS", "& Associés"),
)


# ---------------------------------------------------------------------------------------------
# Drawing helpers
# ---------------------------------------------------------------------------------------------


def _choice(rng: np.random.Generator, probs: Sequence[float], n: int) -> np.ndarray:
    """Draw ``n`` category indices with the given (unnormalised) probabilities."""
    cum = np.cumsum(np.asarray(probs, dtype=np.float64))
    cum /= cum[-1]
    return np.searchsorted(cum, rng.random(n), side="right").astype(np.int32)


def _choice_by_group(
    rng: np.random.Generator, table: Sequence[Sequence[float]], group: np.ndarray
) -> np.ndarray:
    """Draw one category index per row, with probabilities from row ``group`` of ``table``."""
    cum = np.cumsum(np.asarray(table, dtype=np.float64), axis=1)
    cum /= cum[:, -1:]
    u = rng.random(len(group))
    out = np.zeros(len(group), dtype=np.int32)
    # A loop over the few categories, not over rows: memory stays at one column at a time.
    for k in range(cum.shape[1] - 1):
        out += u >= cum[group, k]
    return out


def _plant(
    rng: np.random.Generator,
    drawn: np.ndarray,
    top: np.ndarray,
    catalogue: Sequence[str],
    value: str,
    rate: float = _PLANT_RATE,
) -> np.ndarray:
    """Replace the drawn indices by the index of ``value`` on top rows with probability ``rate``."""
    planted = list(catalogue).index(value)
    return np.where(top & (rng.random(len(drawn)) < rate), planted, drawn).astype(np.int32)


def _pick(values: Sequence[str], idx: np.ndarray) -> pl.Series:
    """Strings of a small catalogue, looked up by index (vectorised in polars)."""
    return pl.Series(values, dtype=pl.String).gather(idx)


def _dates(days: np.ndarray) -> pl.Series:
    """Days since 1970-01-01 as a polars ``Date`` series."""
    return pl.Series(days.astype(np.int32)).cast(pl.Date)


def _padded_ids(prefix: str, numbers: np.ndarray, width: int) -> pl.Series:
    """IDs like ``SO0000001``: prefix plus a zero-padded number (wider if it must be)."""
    return (
        pl.DataFrame({"n": numbers})
        .select(pl.concat_str(pl.lit(prefix), pl.col("n").cast(pl.String).str.zfill(width)))
        .to_series()
    )


def _vietnamese_names(rng: np.random.Generator, gender: np.ndarray) -> pl.Series:
    """Vietnamese person names (family, middle, given) matching ``gender`` (0 Nam, 1 Nữ)."""
    n = len(gender)
    family = _pick(_FAMILY_NAMES, _choice(rng, _FAMILY_NAME_P, n))
    middles = _MIDDLE_NAMES[0] + _MIDDLE_NAMES[1]
    givens = _GIVEN_NAMES[0] + _GIVEN_NAMES[1]
    middle_idx = gender * len(_MIDDLE_NAMES[0]) + rng.integers(0, len(_MIDDLE_NAMES[0]), n)
    given_idx = gender * len(_GIVEN_NAMES[0]) + rng.integers(0, len(_GIVEN_NAMES[0]), n)
    return pl.DataFrame(
        {"f": family, "m": _pick(middles, middle_idx), "g": _pick(givens, given_idx)}
    ).select(pl.concat_str("f", "m", "g", separator=" "))["f"]


def _foreign_person_names(
    rng: np.random.Generator, country: np.ndarray, gender: np.ndarray
) -> pl.Series:
    """International person names for ``country`` and ``gender``.

    Việt Nam has no pool here; its rows get an arbitrary name that callers replace.
    """
    flat: list[str] = []
    offsets = np.zeros((len(_COUNTRIES), 2), dtype=np.int64)
    sizes = np.ones((len(_COUNTRIES), 2), dtype=np.int64)
    for c, by_gender in enumerate(_FOREIGN_PERSON_NAMES):
        for g, names in enumerate(by_gender):
            if names:
                offsets[c, g], sizes[c, g] = len(flat), len(names)
                flat.extend(names)
    idx = offsets[country, gender] + np.floor(rng.random(len(country)) * sizes[country, gender])
    return _pick(flat, idx.astype(np.int64))


def _person_names(rng: np.random.Generator, country: np.ndarray, gender: np.ndarray) -> pl.Series:
    """Vietnamese names in Việt Nam, international names elsewhere."""
    vietnamese = _vietnamese_names(rng, gender)
    foreign = _foreign_person_names(rng, country, gender)
    return pl.select(
        pl.when(pl.lit(pl.Series(country == 0))).then(pl.lit(vietnamese)).otherwise(pl.lit(foreign))
    ).to_series()


def _company_names(
    rng: np.random.Generator, country: np.ndarray, industry: np.ndarray
) -> pl.Series:
    """Vietnamese company names in Việt Nam, international ones elsewhere."""
    n = len(country)
    legal = _pick(_LEGAL_FORMS, _choice(rng, _LEGAL_FORM_P, n))
    word = _pick(_INDUSTRY_NAME_WORD, industry)
    first = _pick(_BRAND_FIRST, rng.integers(0, len(_BRAND_FIRST), n))
    second = _pick(_BRAND_SECOND, rng.integers(0, len(_BRAND_SECOND), n))
    # Flatten the per-country pools; every foreign country has 5 stems and 3 suffixes, and the
    # Việt Nam rows (empty pools) get an arbitrary foreign name that is discarded below.
    stems = [stem for per_country in _FOREIGN_COMPANY_STEMS for stem in per_country]
    suffixes = [suffix for per_country in _FOREIGN_COMPANY_SUFFIXES for suffix in per_country]
    foreign = np.maximum(country - 1, 0)
    frame = pl.DataFrame(
        {
            "legal": legal,
            "word": word,
            "first": first,
            "second": second,
            "stem": _pick(stems, foreign * 5 + rng.integers(0, 5, n)),
            "suffix": _pick(suffixes, foreign * 3 + rng.integers(0, 3, n)),
            "vn": country == 0,
        }
    )
    return frame.select(
        pl.when("vn")
        .then(pl.concat_str("legal", "word", "first", "second", separator=" "))
        .otherwise(pl.concat_str("stem", "suffix", separator=" "))
    ).to_series()


def _birth_days(rng: np.random.Generator, min_age: int, max_age: int, n: int) -> np.ndarray:
    """Birth dates for ages between ``min_age`` and ``max_age`` at the end of the window."""
    youngest = _day(date(SAMPLE_END_DATE.year - min_age, 1, 1))
    oldest = _day(date(SAMPLE_END_DATE.year - max_age, 1, 1))
    return rng.integers(oldest, youngest, n)


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------


def _products() -> pl.DataFrame:
    """The product catalogue: one row per product."""
    return pl.DataFrame(
        {
            "product_id": [p[0] for p in _PRODUCTS],
            "name": [p[1] for p in _PRODUCTS],
            "package": [p[2] for p in _PRODUCTS],
            "list_price": pl.Series([p[3] for p in _PRODUCTS], dtype=pl.Int64),
            "category": [p[4] for p in _PRODUCTS],
            "launched_at": pl.Series([p[5] for p in _PRODUCTS], dtype=pl.Date),
        }
    )


def _firmographics(
    rng: np.random.Generator, top: np.ndarray, b2b_share: float
) -> tuple[pl.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Company attributes shared by customers and leads, planted on ``top`` rows.

    Returns:
        The columns customer_type … growth_stage (B2B-only columns null for B2C rows), the
        B2B flags, the country indices (into ``_COUNTRIES``) and the industry indices.
    """
    n = len(top)
    b2b = top | (rng.random(n) < b2b_share)
    city_names = [c[0] for c in _CITIES]
    city = _choice(rng, [c[3] for c in _CITIES], n)
    city = _plant(rng, city, top, city_names, PLANTED_ICP["city"])
    industry = _plant(rng, _choice(rng, _INDUSTRY_P, n), top, _INDUSTRIES, PLANTED_ICP["industry"])
    position = _choice(rng, _MARKET_POSITION_P, n)
    position = _plant(rng, position, top, _MARKET_POSITIONS, PLANTED_ICP["market_position"])
    growth = _choice(rng, _GROWTH_STAGE_P, n)
    growth = _plant(rng, growth, top, _GROWTH_STAGES, PLANTED_ICP["growth_stage"])
    band = _choice_by_group(rng, _EMPLOYEE_BAND_P, top.astype(np.int32))
    low = np.array([b[0] for b in _EMPLOYEE_BANDS], dtype=np.float64)[band]
    high = np.array([b[1] for b in _EMPLOYEE_BANDS], dtype=np.float64)[band]
    # Log-uniform within the band: small firms are more common than big ones inside each band.
    employees = np.floor(low * (high / low) ** rng.random(n)).astype(np.int64)
    employees = np.minimum(employees, high.astype(np.int64) - 1)
    per_employee = rng.lognormal(np.log(600_000_000), 0.7, n)
    revenue = (np.round(employees * per_employee / 1_000_000) * 1_000_000).astype(np.int64)
    country = _CITY_COUNTRY[city]
    frame = pl.DataFrame(
        {
            "customer_type": _pick(("B2C", "B2B"), b2b.astype(np.int32)),
            "industry": _pick(_INDUSTRIES, industry),
            "employee_count": employees,
            "annual_revenue": revenue,
            "country": _pick([c[2] for c in _CITIES], city),
            "region": _pick([c[1] for c in _CITIES], city),
            "city": _pick([c[0] for c in _CITIES], city),
            "market_position": _pick(_MARKET_POSITIONS, position),
            "growth_stage": _pick(_GROWTH_STAGES, growth),
        }
    )
    is_b2b = pl.col("customer_type") == "B2B"
    b2b_only = ("industry", "employee_count", "annual_revenue", "market_position", "growth_stage")
    frame = frame.with_columns(pl.when(is_b2b).then(pl.col(c)).alias(c) for c in b2b_only)
    return frame, b2b, country, industry


# Company attribute columns shared by customers and leads, in file order.
_FIRMO_COLUMNS = (
    "customer_type",
    "industry",
    "employee_count",
    "annual_revenue",
    "country",
    "region",
    "city",
    "market_position",
    "growth_stage",
)


@dataclass(frozen=True)
class _CustomerBase:
    """Customers plus the hidden state the other tables are drawn from."""

    frame: pl.DataFrame
    weight: np.ndarray  # revenue weight (lognormal)
    bucket: np.ndarray  # 0 top 20% by weight, 1 next 30%, 2 bottom 50%
    b2b: np.ndarray
    country: np.ndarray  # index into _COUNTRIES
    one_timer: np.ndarray  # buys exactly one order
    first_day: np.ndarray  # day of the first order
    created_day: np.ndarray

    @property
    def top(self) -> np.ndarray:
        return self.bucket == 0


def _customers(rng: np.random.Generator, n: int) -> _CustomerBase:
    """Customers (one row per customer) and the revenue weights behind their orders."""
    weight = rng.lognormal(0.0, _WEIGHT_SIGMA, n)
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(-weight, kind="stable")] = np.arange(n)
    bucket = np.where(
        rank < round(_TOP_SHARE * n), 0, np.where(rank < round((_TOP_SHARE + _MID_SHARE) * n), 1, 2)
    ).astype(np.int32)
    top = bucket == 0
    # B2B is ~60% overall; all top customers are B2B, so the rest are B2B half of the time.
    firmo, b2b, country, industry = _firmographics(rng, top, b2b_share=0.5)

    # One-time buyers come from the bottom 70% by weight; together with repeat customers who
    # happen to draw no further order, they make 35–40% of customers single-order customers.
    one_timer = (rank >= round(0.3 * n)) & (rng.random(n) < 0.5)
    span = _END - _START
    first_day = np.where(
        one_timer,
        _START + rng.integers(0, span + 1, n),
        # Repeat customers start earlier on average, so they have time to come back.
        _START + np.floor(span * rng.random(n) ** 1.7).astype(np.int64),
    )
    created_day = first_day - rng.integers(0, 91, n)

    gender = rng.integers(0, 2, n).astype(np.int32)
    names = pl.select(
        pl.when(pl.lit(pl.Series(b2b)))
        .then(pl.lit(_company_names(rng, country, industry)))
        .otherwise(pl.lit(_person_names(rng, country, gender)))
    ).to_series()
    income = (np.round(rng.lognormal(np.log(15_000_000), 0.6, n) / 100_000) * 100_000).astype(
        np.int64
    )
    attitude = _choice(rng, _ATTITUDE_P, n)
    attitude = _plant(rng, attitude, top, _ATTITUDES, PLANTED_ICP["attitude_to_technology"])
    frame = pl.DataFrame(
        {
            "customer_id": _padded_ids("", np.arange(1, n + 1), 6),
            "name": names,
        }
    ).hstack(firmo)
    frame = frame.with_columns(
        acquisition_channel=_pick(_ACQUISITION_CHANNELS, _choice(rng, _ACQUISITION_P, n)),
        created_at=_dates(created_day),
        birth_date=_dates(_birth_days(rng, 18, 70, n)),
        gender=_pick(_GENDERS, gender),
        income=pl.Series(income),
        education=_pick(_EDUCATIONS, _choice(rng, _EDUCATION_P_B2C, n)),
        occupation=_pick(_OCCUPATIONS, rng.integers(0, len(_OCCUPATIONS), n)),
        interests=_pick(_INTERESTS, rng.integers(0, len(_INTERESTS), n)),
        attitude_to_technology=_pick(_ATTITUDES, attitude),
        core_values=_pick(_CORE_VALUES, _choice_by_group(rng, _CORE_VALUE_P, top.astype(np.int32))),
    )
    person_only = ("birth_date", "gender", "income", "education", "occupation", "interests")
    frame = frame.with_columns(
        pl.when(pl.col("customer_type") == "B2C").then(pl.col(c)).alias(c) for c in person_only
    )
    return _CustomerBase(
        frame=frame,
        weight=weight,
        bucket=bucket,
        b2b=b2b,
        country=country,
        one_timer=one_timer,
        first_day=first_day,
        created_day=created_day,
    )


def _order_sizes(rng: np.random.Generator, n: int) -> np.ndarray:
    """Number of lines of ``n`` orders (1–4)."""
    return (_choice(rng, _ORDER_SIZE_P, n) + 1).astype(np.int64)


def _orders(
    rng: np.random.Generator, base: _CustomerBase, lines: int, products: pl.DataFrame
) -> pl.DataFrame:
    """Exactly ``lines`` order lines, numbered by order in calendar order."""
    n = len(base.weight)
    # First orders: one per customer, for the first `lines` customers when lines < customers.
    n_first = min(n, lines)
    first_sizes = _order_sizes(rng, n_first)
    if first_sizes.sum() > lines:
        first_sizes[:] = 1  # too few lines for multi-line first orders: one line each
    rest = lines - int(first_sizes.sum())

    # Repeat orders fill the remaining lines; customers are drawn by revenue weight.
    eligible = np.flatnonzero(~base.one_timer[:n_first])
    if len(eligible) == 0:
        eligible = np.arange(n_first)
    repeat_sizes = _order_sizes(rng, rest)
    cum = np.cumsum(repeat_sizes)
    n_repeat = int(np.searchsorted(cum, rest)) + 1 if rest > 0 else 0
    repeat_sizes = repeat_sizes[:n_repeat]
    if n_repeat:
        repeat_sizes[-1] -= cum[n_repeat - 1] - rest  # trim the last order to fit exactly
    del cum
    p = base.weight[eligible] / base.weight[eligible].sum()
    repeat_customer = rng.choice(eligible, size=n_repeat, p=p)
    first_day = base.first_day[repeat_customer]
    repeat_day = first_day + np.floor((_END - first_day + 1) * rng.random(n_repeat)).astype(
        np.int64
    )

    customer = np.concatenate([np.arange(n_first), repeat_customer])
    day = np.concatenate([base.first_day[:n_first], repeat_day])
    size = np.concatenate([first_sizes, repeat_sizes])
    is_repeat = np.arange(len(customer)) >= n_first
    # Order numbers follow the calendar; ties keep their random draw order (stable sort).
    chrono = np.argsort(day, kind="stable")
    customer, day, size, is_repeat = customer[chrono], day[chrono], size[chrono], is_repeat[chrono]
    n_orders = len(customer)

    u = rng.random(n_orders)
    cancelled = u < _CANCEL_RATE
    # A return needs an earlier purchase, so only repeat orders become return orders.
    returned = is_repeat & (u >= _CANCEL_RATE) & (u < _CANCEL_RATE + _RETURN_RATE)
    order_channel = _choice_by_group(rng, _ORDER_CHANNEL_P, base.b2b[customer].astype(np.int32))
    order_ids = _padded_ids("SO", np.arange(1, n_orders + 1), 7)

    # Expand to lines.
    line_order = np.repeat(np.arange(n_orders, dtype=np.int32), size)
    line_customer = customer[line_order]
    line_day = day[line_order]
    bucket = base.bucket[line_customer]

    package = _choice_by_group(rng, _PACKAGE_P, bucket)
    package_names = products["package"].to_list()
    by_package = np.array(
        sorted(range(len(package_names)), key=lambda i: _PACKAGES.index(package_names[i]))
    )
    counts = np.array([package_names.count(p) for p in _PACKAGES])
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    product = by_package[
        starts[package] + np.floor(rng.random(lines) * counts[package]).astype(np.int64)
    ]
    # Nothing sells before its launch: early lines of a late product sell its fallback instead.
    product_ids = products["product_id"].to_list()
    launch = (products["launched_at"].cast(pl.Int32)).to_numpy()
    fallback = np.array(
        [product_ids.index(_LATE_PRODUCT_FALLBACK.get(pid, pid)) for pid in product_ids]
    )
    product = np.where(line_day < launch[product], fallback[product], product)
    price = products["list_price"].to_numpy()[product]

    band = _choice_by_group(rng, _QUANTITY_BAND_P, bucket)
    small = _choice(rng, _SMALL_QUANTITY_P, lines) + 1
    medium = rng.integers(6, 21, lines)
    large = np.minimum(21 + np.floor(rng.exponential(15.0, lines)), 500).astype(np.int64)
    quantity = np.where(band == 0, small, np.where(band == 1, medium, large)).astype(np.int64)
    del small, medium, large, band

    gross = quantity * price
    has_discount = rng.random(lines) < _DISCOUNT_RATE
    rate = rng.uniform(0.05, 0.10, lines)
    discount = np.where(has_discount, np.round(gross * rate / 1000) * 1000, 0).astype(np.int64)
    del has_discount, rate

    # Return lines: quantity, discount and amount all negative, status completed.
    sign = np.where(returned[line_order], -1, 1)
    quantity *= sign
    discount *= sign
    amount = quantity * price - discount
    cost = (np.round(amount * rng.uniform(0.55, 0.75, lines) / 1000) * 1000).astype(np.int64)

    refunded = (~cancelled[line_order]) & (sign > 0) & (rng.random(lines) < _REFUND_RATE)
    status = np.where(cancelled[line_order], 2, np.where(refunded, 1, 0)).astype(np.int32)

    # Each line's position in its order: with order_id, the line key of the export.
    line_number = np.arange(lines) - np.repeat(np.cumsum(size) - size, size) + 1
    return pl.DataFrame(
        {
            "order_id": order_ids.gather(line_order),
            "line_number": line_number.astype(np.int64),
            "customer_id": base.frame["customer_id"].gather(line_customer),
            "order_date": _dates(line_day),
            "product_id": _pick(product_ids, product),
            "quantity": quantity,
            "unit_price": price,
            "discount": discount,
            "amount": amount,
            "cost": cost,
            "currency": _pick(("VND",), np.zeros(lines, dtype=np.int32)),
            "status": _pick(_STATUSES, status),
            "channel": _pick(_ORDER_CHANNELS, order_channel[line_order]),
        }
    )


def _contacts(rng: np.random.Generator, base: _CustomerBase) -> pl.DataFrame:
    """Contacts: 1–4 per B2B customer (one or two decision makers), one per B2C customer."""
    n = len(base.weight)
    b2b = base.b2b
    per_customer = np.where(b2b, _choice(rng, (0.3, 0.3, 0.25, 0.15), n) + 1, 1)
    # One decision maker, sometimes two when there are several contacts.
    deciders = np.where(per_customer > 1, 1 + (rng.random(n) < 0.35), 1)
    owner = np.repeat(np.arange(n), per_customer)
    total = len(owner)
    first_row = np.repeat(np.cumsum(per_customer) - per_customer, per_customer)
    is_dm = (np.arange(total) - first_row) < deciders[owner]
    top_dm = is_dm & base.top[owner]
    owner_b2b = b2b[owner]

    title_p = ([t[4] for t in _TITLES], [t[3] for t in _TITLES])  # others, decision makers
    title = _choice_by_group(rng, title_p, is_dm.astype(np.int32))
    title_names = [t[0] for t in _TITLES]
    # The planted title carries the planted level (Giám đốc Marketing is N-1) and its role.
    title = _plant(rng, title, top_dm, title_names, PLANTED_BUYER["title"], _BUYER_PLANT_RATE)
    # Decision makers are more often men in the base population; planted buyers are women.
    gender = (rng.random(total) < np.where(is_dm, 0.3, 0.5)).astype(np.int32)
    gender = _plant(rng, gender, top_dm, _GENDERS, PLANTED_BUYER["gender"], _BUYER_PLANT_RATE)
    role_major = np.array([_MAJORS.index(_ROLE_MAJOR[t[1]]) for t in _TITLES])[title]
    major = np.where(rng.random(total) < 0.5, role_major, rng.integers(0, len(_MAJORS), total))
    major = _plant(rng, major, top_dm, _MAJORS, PLANTED_BUYER["major"], _BUYER_PLANT_RATE)
    channel_p = (_PREFERRED_CHANNEL_P_B2C, _PREFERRED_CHANNEL_P_B2B)
    channel = _choice_by_group(rng, channel_p, owner_b2b.astype(np.int32))
    channel = _plant(
        rng,
        channel,
        top_dm,
        _PREFERRED_CHANNELS,
        PLANTED_BUYER["preferred_channel"],
        _BUYER_PLANT_RATE,
    )
    birth = np.where(is_dm, _birth_days(rng, 35, 62, total), _birth_days(rng, 23, 50, total))

    frame = pl.DataFrame(
        {
            "contact_id": _padded_ids("CT", np.arange(1, total + 1), 6),
            "customer_id": base.frame["customer_id"].gather(owner),
            "full_name": _person_names(rng, base.country[owner], gender),
            "title": _pick(title_names, title),
            "role": _pick([t[1] for t in _TITLES], title),
            "level": _pick([t[2] for t in _TITLES], title),
            "is_decision_maker": is_dm,
            "gender": _pick(_GENDERS, gender),
            "birth_date": _dates(birth),
            "education": _pick(_EDUCATIONS, _choice(rng, _EDUCATION_P_CONTACT, total)),
            "major": _pick(_MAJORS, major),
            "interests": _pick(_INTERESTS, rng.integers(0, len(_INTERESTS), total)),
            "personality": _pick(_PERSONALITIES, rng.integers(0, len(_PERSONALITIES), total)),
            "preferred_channel": _pick(_PREFERRED_CHANNELS, channel),
        }
    )
    # A B2C customer is its own (only) contact: copy the person, no company title or level.
    person = base.frame.select(
        pl.col("name").alias("full_name"), "gender", "birth_date", "education", "interests"
    )[owner]
    is_b2c = pl.lit(pl.Series(~owner_b2b))
    return frame.with_columns(
        *(
            pl.when(is_b2c).then(pl.lit(person[c])).otherwise(pl.col(c)).alias(c)
            for c in person.columns
        ),
        pl.when(is_b2c).then(None).otherwise(pl.col("title")).alias("title"),
        pl.when(is_b2c).then(pl.lit("individual")).otherwise(pl.col("role")).alias("role"),
        pl.when(is_b2c).then(None).otherwise(pl.col("level")).alias("level"),
    )


def _leads(rng: np.random.Generator, base: _CustomerBase, buyers: int) -> pl.DataFrame:
    """Twice as many leads as customers; ~30% converted into one of the first ``buyers``."""
    n = len(base.weight)
    n_leads = 2 * n
    # Converted leads: ~30% of leads, each a distinct customer who has orders. Top customers
    # are twice as likely to have come in as a lead (weighted sampling without replacement,
    # Efraimidis–Spirakis: the largest log(u) / w win).
    n_converted = min(round(0.3 * n_leads), buyers)
    w = np.where(base.top[:buyers], 2.0, 1.0)
    keys = np.log(rng.random(buyers)) / w
    converted = np.sort(np.argsort(-keys, kind="stable")[:n_converted])
    converted_day = base.created_day[converted]  # the CRM record is created on conversion
    converted_frame = (
        base.frame[converted]
        .select(
            pl.col("customer_id").alias("converted_customer_id"),
            *_FIRMO_COLUMNS,
        )
        .with_columns(
            created_at=_dates(converted_day - rng.integers(0, 181, n_converted)),
            converted_at=_dates(converted_day),
            source=_pick(_LEAD_SOURCES, _choice(rng, _LEAD_SOURCE_P[1], n_converted)),
        )
    )

    # Unconverted leads: the base population, without the planted profile.
    n_open = n_leads - n_converted
    open_firmo, *_ = _firmographics(rng, np.zeros(n_open, dtype=bool), b2b_share=0.6)
    open_frame = open_firmo.with_columns(
        pl.lit(None, dtype=pl.String).alias("converted_customer_id"),
        created_at=_dates(_START + rng.integers(0, _END - _START + 1, n_open)),
        converted_at=pl.lit(None, dtype=pl.Date),
        source=_pick(_LEAD_SOURCES, _choice(rng, _LEAD_SOURCE_P[0], n_open)),
    )
    columns = ["created_at", "source", "converted_customer_id", "converted_at", *_FIRMO_COLUMNS]
    leads = pl.concat([converted_frame.select(columns), open_frame.select(columns)])
    leads = leads.sort("created_at", maintain_order=True)
    return leads.select(_padded_ids("L", np.arange(1, n_leads + 1), 6).alias("lead_id"), *columns)


def _feedback(rng: np.random.Generator, base: _CustomerBase, buyers: int) -> pl.DataFrame:
    """Half a row per customer, from customers with orders, dated after their first order."""
    rows = round(0.5 * len(base.weight)) if buyers else 0
    customer = rng.integers(0, max(buyers, 1), rows)
    first = base.first_day[customer]
    day = first + np.floor((_END - first + 1) * rng.random(rows)).astype(np.int64)
    top = base.top[customer].astype(np.int32)
    goal = _choice_by_group(rng, _GOAL_P, top)
    pain = _choice_by_group(rng, _PAIN_POINT_P, top)
    text = pain * 3 + rng.integers(0, 3, rows)
    # Happier top customers; slow support drags scores down.
    slow_support = pain == _PAIN_POINTS.index("hỗ trợ chậm")
    mean = np.where(top == 1, 8.0, 6.5) - np.where(slow_support, 1.5, 0.0)
    score = np.clip(np.round(rng.normal(mean, 1.8)), 1, 10).astype(np.int64)
    frame = pl.DataFrame(
        {
            "customer_id": base.frame["customer_id"].gather(customer),
            "created_at": _dates(day),
            "channel": _pick(_FEEDBACK_CHANNELS, rng.integers(0, len(_FEEDBACK_CHANNELS), rows)),
            "goal": _pick(_GOALS, goal),
            "pain_point": _pick(_PAIN_POINTS, pain),
            "motivation": _pick(_MOTIVATIONS, rng.integers(0, len(_MOTIVATIONS), rows)),
            "info_source": _pick(_INFO_SOURCES, rng.integers(0, len(_INFO_SOURCES), rows)),
            "text": _pick(_FEEDBACK_TEXTS, text),
            "score": score,
        }
    )
    return frame.sort("created_at", maintain_order=True)


def generate_sample(
    out_dir: Path,
    *,
    customers: int = 5000,
    order_lines: int = 100_000,
    seed: int = 42,
    file_format: FileFormat = "csv",
) -> dict[str, Path]:
    """Write the six sample sources into ``out_dir``.

    Every customer gets at least one order line when ``order_lines >= customers``; with fewer
    lines than customers, only the first ``order_lines`` customers get one single-line order
    each, and the others have no orders (nor converted leads or feedback).

    Args:
        out_dir: Directory for the files; created if missing.
        customers: Number of customers (≥ 1). Leads are twice as many, feedback half as many.
        order_lines: Number of order lines (≥ 1).
        seed: Seed of the random generator; the same seed and sizes give byte-identical files.
        file_format: ``"csv"`` (UTF-8 without BOM, comma-delimited, header row) or
            ``"parquet"``.

    Returns:
        Path of each written file by source name: orders, customers, contacts, products,
        leads and feedback.

    Raises:
        ValueError: If a size is below 1 or the file format is unknown.
    """
    if customers < 1 or order_lines < 1:
        raise ValueError("customers and order_lines must be at least 1")
    if file_format not in ("csv", "parquet"):
        raise ValueError(f"file_format must be 'csv' or 'parquet', not {file_format!r}")

    # One independent stream per table, so a change in one table leaves the others unchanged.
    rng_customers, rng_orders, rng_contacts, rng_leads, rng_feedback = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5)
    )
    products = _products()
    base = _customers(rng_customers, customers)
    buyers = min(customers, order_lines)  # customers that have orders
    tables = {
        "orders": _orders(rng_orders, base, order_lines, products),
        "customers": base.frame,
        "contacts": _contacts(rng_contacts, base),
        "products": products,
        "leads": _leads(rng_leads, base, buyers),
        "feedback": _feedback(rng_feedback, base, buyers),
    }

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, frame in tables.items():
        path = out_dir / f"{name}.{file_format}"
        if file_format == "csv":
            frame.write_csv(path)
        else:
            frame.write_parquet(path)
        paths[name] = path
    return paths
