import pytest

from synthlib.data.scrub import scrub, scrub_column

PERSONAL = [
    ("mail john.smith@example.co.uk now", "mail <email> now", ["email"]),
    ("call 555-123-4567", "call <phone>", ["phone"]),
    ("(555) 123 4567 plumber", "<phone> plumber", ["phone"]),
    ("+44 20 7946 0958", "<phone>", ["phone"]),
    ("5551234567", "<phone>", ["phone"]),
    ("card 4111 1111 1111 1111 lost", "card <card> lost", ["card"]),
    ("4111-1111-1111-1111", "<card>", ["card"]),
    ("https://shop.example.com/cart?session=abc123&token=ff00 shoes", "<url> shoes", ["url"]),
    ("https://x.io/reset/abcdefABCDEF0123456789", "<url>", ["url"]),
    ("ann@mail.com 555-123-4567", "<email> <phone>", ["email", "phone"]),
]
ORDINARY = ["www.wayfair.com", "1/2 inch binder", "65 inch tv 2020", "queen bed 60 x 80", "iphone 12 pro max",
            "r85wh1-wide screen 85 diagonal", "canon pg-245 cl-246", "elite screens 120 inch 16:9",
            "marware eco-vue for ipad 2 black 602956008538", "1.75 leather belts", "usb 3.0 32gb"]


@pytest.mark.parametrize("text,scrubbed,kinds", PERSONAL)
def test_each_kind_of_personal_data_is_replaced(text, scrubbed, kinds):
    assert scrub(text) == (scrubbed, kinds)


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_queries_are_left_alone(text):
    assert scrub(text) == (text, [])


def test_spark_scrubs_exactly_as_python(spark):
    texts = [t for t, _, _ in PERSONAL] + ORDINARY + [None]
    col, flags = scrub_column("query")
    rows = spark.createDataFrame([(t,) for t in texts], "query string").select(
        col.alias("out"), *[f.alias(k) for k, f in flags.items()]).collect()
    for text, row in zip(texts, rows):
        out, kinds = scrub(text)
        assert row["out"] == out and [k for k in flags if row[k]] == kinds, text
