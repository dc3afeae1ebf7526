"""The customer base of ``benchmarks/customers.py``, written in SQL on PostgreSQL.

Everything is derived from a row's number through ``bench_u(n, salt)`` (a uniform
number in [0, 1) from PostgreSQL's ``hashint8``), so a size always gives the same
customers, orders and conversations, and nothing crosses the wire but the statements:

- ``customers`` buyer rows of one shop: 60 % Taobao, 20 % Tmall, 10 % JD, 10 % the
  shop's site; one in 12.5 (8 %) is a second account of the buyer two rows before,
  merged into it (``merged_into_id``) and sharing its name, phone and birthday;
  Taobao-style nicks, Chinese names (8 % none), mobile numbers (10 % none), cities,
  genders; 45 % with a birthday, a quarter of them lunar (a few in a leap month); 3 %
  opted out of greetings, 0.1 % erased; one in ten tagged;
- 0 to 14 orders per buyer (about 2 on average) over the two years before ``now``, one
  to three items of 600 SKUs of 200 products in 12 categories; 5 % never paid; about
  4 % of the paid ones with a refund, a quarter of the finished ones reviewed;
- one buyer in ten (persons and merged accounts alike) chatted: one or two
  conversations of two to five buyer messages each, around an hour of the day that
  is theirs, for the online hours.
"""

from __future__ import annotations

import json
from datetime import datetime

CATEGORIES = ("茶叶", "茶具", "零食", "服装", "家居", "美妆", "母婴", "数码配件", "文具",
              "厨具", "户外", "宠物")  # fmt: skip
CITIES = ("杭州", "杭州", "上海", "上海", "北京", "北京", "广州", "深圳", "深圳", "成都", "南京",
          "苏州", "武汉", "西安", "重庆", "天津", "长沙", "郑州", "青岛", "宁波", "厦门", "福州",
          "合肥", "济南", "昆明", "沈阳", "大连", "无锡", "温州", "佛山", "东莞",
          "哈尔滨")  # fmt: skip
SURNAMES = ("王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱",
            "胡", "郭", "何", "高", "林", "罗")  # fmt: skip
GIVEN = ("伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰",
         "娟", "涛", "明", "超", "秀兰", "霞", "平", "刚", "桂英", "欣怡", "子涵", "梓轩",
         "浩然", "一诺")  # fmt: skip
NICK_STARTS = ("小", "大", "阿", "快乐", "阳光", "甜甜", "星星", "月亮", "清风", "浅笑", "微凉",
               "tb", "jd", "momo", "lily", "candy", "sunny", "coco", "xiao", "happy")  # fmt: skip
NICK_MIDDLES = ("猫", "鱼", "兔", "熊", "豆", "米", "果", "糖", "雨", "风", "lucky", "", "_",
                "宝宝", "妈妈", "爸爸")  # fmt: skip
TAGS = (["老客户"], ["VIP"], ["批发"], ["老客户", "VIP"], ["敏感肌"])
WORDS = ("在吗", "这个有货吗", "什么时候发货", "能便宜点吗", "尺码怎么选", "好的谢谢",
         "快递到哪了", "可以开发票吗", "有赠品吗", "颜色有色差吗")  # fmt: skip
# The chatting buyers' own hour of the day: most in the evening, some at lunch or late.
HOURS = (20, 21, 21, 22, 22, 22, 23, 19, 12, 13, 10, 9, 0, 1, 15)
PRODUCTS = 200
SKUS_PER_PRODUCT = 3
DAYS = 730  # the orders' two years


def _text(values: tuple[str, ...] | list[str]) -> str:
    return "ARRAY[" + ",".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _pick(values: tuple[str, ...] | list[str], key: str, salt: int) -> str:
    """One of ``values``, uniformly by ``key``'s hash."""
    return f"({_text(values)})[1 + floor(bench_u({key}, {salt}) * {len(values)})::int]"


FUNCTION = """
CREATE OR REPLACE FUNCTION bench_u(n bigint, salt int) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT (hashint8(n * 1009 + salt)::float8 + 2147483648.0) / 4294967296.0 $$
"""


def catalogue_sql(shop: int, now: datetime) -> list[str]:
    """200 products in 12 categories, three SKUs each; prices skewed cheap (9.90 to
    about 610 yuan), the SKUs of a product 5 yuan apart."""
    at = f"'{now.isoformat()}'::timestamptz"
    return [
        f"""INSERT INTO product (shop_id, code, title, category, price_fen, description,
                custom_made, active, created_at, size_chart)
            SELECT {shop}, 'P' || p, {_pick(CATEGORIES, "p", 2)} || '商品' || p,
                   {_pick(CATEGORIES, "p", 2)}, 990 + floor(bench_u(p, 3) ^ 2 * 60000)::int,
                   '', false, true, {at} - interval '3 years', '[]'
            FROM generate_series(0, {PRODUCTS - 1}) p""",
        f"""INSERT INTO sku (shop_id, product_id, code, attributes, price_fen, stock)
            SELECT {shop}, pr.id, 'S' || s, '{{}}', pr.price_fen + (s % {SKUS_PER_PRODUCT}) * 500,
                   1000
            FROM generate_series(0, {PRODUCTS * SKUS_PER_PRODUCT - 1}) s
            JOIN product pr ON pr.shop_id = {shop} AND pr.code = 'P' || (s / {SKUS_PER_PRODUCT})""",
    ]


def customers_sql(shop: int, base: int, customers: int, now: datetime) -> str:
    """The buyer rows, ids ``base + 1`` to ``base + customers``; a merged account points
    at its person two rows before (written in the same statement: the foreign key is
    checked at its end)."""
    at = f"'{now.isoformat()}'::timestamptz"
    tags = [json.dumps(t) for t in TAGS]  # as the product's JSON serializer writes them
    channel = _pick(("taobao",) * 6 + ("tmall",) * 2 + ("jd", "own_site"), "p", 1)
    nick = (
        f"{_pick(NICK_STARTS, 'g', 4)} || {_pick(NICK_MIDDLES, 'g', 5)} || "
        f"CASE WHEN bench_u(g, 6) < 0.7 THEN (floor(bench_u(g, 7) * 100000)::int)::text "
        f"ELSE '' END"
    )
    name = f"{_pick(SURNAMES, 'p', 8)} || {_pick(GIVEN, 'p', 9)}"
    phone = (
        f"'1' || {_pick(('3', '5', '7', '8', '9'), 'p', 10)} || floor(bench_u(p, 11) * 10)::int"
        f" || lpad(floor(bench_u(p, 12) * 100000000)::bigint::text, 8, '0')"
    )
    days_in_month = "(ARRAY[31,29,31,30,31,30,31,31,30,31,30,31])"
    return f"""
    INSERT INTO customer (id, shop_id, channel, buyer_id, nick, name, phone, email, city,
        gender, birth_year, birth_month, birth_day, birth_lunar, birth_leap, tags, notes,
        greetings_off_at, merged_into_id, erased_at, created_at)
    SELECT {base} + g, {shop}, channel, channel || '-' || g,
           CASE WHEN erased THEN '' ELSE nick END,
           CASE WHEN erased OR bench_u(p, 13) < 0.08 THEN '' ELSE name END,
           CASE WHEN erased OR bench_u(p, 14) < 0.10 THEN '' ELSE phone END,
           CASE WHEN NOT erased AND bench_u(p, 15) < 0.15 THEN 'b' || p || '@example.com'
                ELSE '' END,
           CASE WHEN erased THEN '' ELSE {_pick(CITIES, "p", 16)} END,
           CASE WHEN erased THEN '' WHEN bench_u(p, 17) < 0.55 THEN 'female'
                WHEN bench_u(p, 17) < 0.88 THEN 'male' ELSE '' END,
           CASE WHEN birthday AND bench_u(p, 25) >= 0.3
                THEN 1965 + floor(bench_u(p, 26) * 40)::int END,
           CASE WHEN birthday THEN month END,
           CASE WHEN NOT birthday THEN NULL
                WHEN lunar THEN 1 + floor(bench_u(p, 23) * 30)::int
                ELSE 1 + floor(bench_u(p, 23) * {days_in_month}[month])::int END,
           birthday AND lunar, birthday AND lunar AND bench_u(p, 24) < 0.02,
           CASE WHEN NOT erased AND bench_u(p, 31) < 0.10 THEN {_pick(tags, "p", 32)}
                ELSE '[]' END::json,
           '',
           CASE WHEN bench_u(p, 30) < 0.03
                THEN {at} - interval '1 day' * floor(bench_u(p, 33) * 300) END,
           CASE WHEN g <> p THEN {base} + p END,
           CASE WHEN erased THEN {at} - interval '10 days' END,
           {at} - interval '1 day' * (40 + floor(bench_u(g, 34) * 1000))
    FROM (SELECT g, p, {nick} AS nick, {name} AS name, {phone} AS phone,
                 CASE WHEN g <> p THEN (ARRAY['jd','own_site','tmall'])[1 + g % 3]
                      ELSE {channel} END AS channel,
                 g = p AND bench_u(p, 35) < 0.001 AS erased,
                 bench_u(p, 20) < 0.45 AS birthday, bench_u(p, 21) < 0.25 AS lunar,
                 1 + floor(bench_u(p, 22) * 12)::int AS month
          FROM (SELECT g, CASE WHEN g % 25 < 2 AND g > 25 THEN g - 2 ELSE g END AS p
                FROM generate_series(1, {customers}) g) numbered) rows"""


def orders_sql(shop: int, base: int, now: datetime) -> list[str]:
    """Orders, their items, refunds and reviews.

    A buyer's number of orders: none (14 %), 1 (44 %), 2 (20 %), 3 (10 %), 4–6 (7 %),
    7–14 (5 %); each at a uniform moment of the two years. Each order has a key ``o``
    (``customer id * 16 + n``, kept in its platform number) from which its items' SKUs
    and quantities follow, so its amounts are their sums; the rows are written, and
    numbered, in the order they were placed, as a shop's orders arrive."""
    at = f"'{now.isoformat()}'::timestamptz"
    skus = PRODUCTS * SKUS_PER_PRODUCT
    count = (
        "CASE WHEN u < 0.14 THEN 0 WHEN u < 0.58 THEN 1 WHEN u < 0.78 THEN 2 "
        "WHEN u < 0.88 THEN 3 WHEN u < 0.95 THEN 4 + floor(bench_u(c.id, 41) * 3)::int "
        "ELSE 7 + floor(bench_u(c.id, 41) * 8)::int END"
    )
    first_sku = f"(SELECT min(id) FROM sku WHERE shop_id = {shop})"

    def items(o: str) -> str:  # how many lines order ``o`` has
        return f"1 + (bench_u({o}, 50) > 0.75)::int + (bench_u({o}, 50) > 0.95)::int"

    def sku(o: str) -> str:  # the SKU of line ``i`` of order ``o``
        return f"{first_sku} + floor(bench_u({o} * 4 + i, 51) * {skus})::int"

    def quantity(o: str) -> str:
        return f"1 + (bench_u({o} * 4 + i, 52) > 0.8)::int"

    key = "(o.platform_order_id::bigint - 4100000000000000000)"  # the order's ``o``
    line = (
        f"(SELECT coalesce(sum(s.price_fen * ({quantity('o')})), 0) "
        f"FROM generate_series(1, {items('o')}) i JOIN sku s ON s.id = {sku('o')})"
    )
    status = (
        "CASE WHEN bench_u(o, 54) < 0.03 THEN 'WAIT_BUYER_PAY' "
        "WHEN bench_u(o, 54) < 0.05 THEN 'TRADE_CLOSED' "
        "WHEN age < 2 THEN 'WAIT_SELLER_SEND_GOODS' "
        "WHEN age < 8 THEN 'WAIT_BUYER_CONFIRM_GOODS' ELSE 'TRADE_FINISHED' END"
    )
    return [
        f"""INSERT INTO "order" (id, shop_id, platform_order_id, customer_id, buyer_nick,
                status, source, goods_fen, postage_fen, total_fen, paid_fen, refunded_fen,
                receiver_name, receiver_phone, receiver_address, buyer_message,
                shipping_method, courier, tracking_number, cash_on_delivery, close_reason,
                created_at, paid_at, shipped_at, finished_at, closed_at, updated_at, flag,
                channel)
            SELECT (SELECT coalesce(max(id), 0) FROM "order")
                     + row_number() OVER (ORDER BY placed, o),
                   {shop}, (4100000000000000000 + o)::text, cid, nick, status, 'bench',
                   fen, 0, fen, CASE WHEN paid THEN fen ELSE 0 END, 0, name, phone,
                   city || '市文三路' || (o % 500) || '号', '', '', '顺丰速运',
                   CASE WHEN status IN ('WAIT_BUYER_CONFIRM_GOODS', 'TRADE_FINISHED')
                        THEN 'SF' || (1000000000000 + o)::text ELSE '' END,
                   false, CASE WHEN status = 'TRADE_CLOSED' THEN '买家未付款' ELSE '' END,
                   placed, CASE WHEN paid THEN placed + interval '3 minutes' END,
                   CASE WHEN status IN ('WAIT_BUYER_CONFIRM_GOODS', 'TRADE_FINISHED')
                        THEN placed + interval '1 day' END,
                   CASE WHEN status = 'TRADE_FINISHED' THEN placed + interval '8 days' END,
                   CASE WHEN status = 'TRADE_CLOSED' THEN placed + interval '1 day' END,
                   placed, 0, channel
            FROM (SELECT o, cid, nick, name, phone, city, channel, placed, {status} AS status,
                         {line} AS fen
                  FROM (SELECT c.id * 16 + n AS o, c.id AS cid, c.nick, c.name, c.phone,
                               c.city, c.channel, {at} - interval '1 second' * floor(
                                   bench_u(c.id * 16 + n, 53) * {DAYS * 86400}) AS placed,
                               bench_u(c.id * 16 + n, 53) * {DAYS} AS age
                        FROM (SELECT id, nick, name, phone, city, channel,
                                     bench_u(id, 40) AS u
                              FROM customer WHERE shop_id = {shop} AND id > {base}) c
                        CROSS JOIN LATERAL generate_series(1, {count}) n) placed
                  OFFSET 0) priced,
                 LATERAL (SELECT status NOT IN ('WAIT_BUYER_PAY', 'TRADE_CLOSED') AS paid) p
            ORDER BY placed, o""",
        f"""INSERT INTO order_item (order_id, sku_id, sku_code, title, sku_text, price_fen,
                quantity)
            SELECT o.id, s.id, s.code, pr.title, '规格' || s.code, s.price_fen,
                   {quantity(key)}
            FROM "order" o
            CROSS JOIN LATERAL generate_series(1, {items(key)}) i
            JOIN sku s ON s.id = {sku(key)}
            JOIN product pr ON pr.id = s.product_id
            WHERE o.shop_id = {shop} AND o.customer_id > {base}""",
        f"""INSERT INTO refund (shop_id, order_id, kind, status, goods, amount_fen, reason,
                refusal, return_carrier, return_waybill, created_at, updated_at, finished_at)
            SELECT {shop}, id, 'refund_only',
                   (ARRAY['SUCCESS','SUCCESS','SUCCESS','CLOSED','WAIT_SELLER_AGREE'])
                     [1 + floor(bench_u(id, 61) * 5)::int],
                   'BUYER_NOT_RECEIVED',
                   CASE WHEN bench_u(id, 62) < 0.6 THEN paid_fen ELSE paid_fen / 3 END,
                   '不想要了', '', '', '', paid_at + interval '2 days', paid_at + interval '3 days',
                   paid_at + interval '3 days'
            FROM "order" WHERE shop_id = {shop} AND customer_id > {base}
              AND paid_at IS NOT NULL AND bench_u(id, 60) < 0.04""",
        f"""INSERT INTO review (shop_id, order_id, platform_sub_order_id, rating, content,
                item_title, buyer_nick, reviewed_at, follow_up, reply, created_at,
                updated_at)
            SELECT {shop}, id, '',
                   CASE WHEN bench_u(id, 71) < 0.04 THEN 'bad'
                        WHEN bench_u(id, 71) < 0.10 THEN 'neutral' ELSE 'good' END,
                   '', '', buyer_nick, finished_at, '', '', finished_at, finished_at
            FROM "order" WHERE shop_id = {shop} AND customer_id > {base}
              AND status = 'TRADE_FINISHED' AND bench_u(id, 70) < 0.25""",
    ]


def chats_sql(shop: int, base: int, now: datetime) -> list[str]:
    """Conversations (id ``customer id * 4 + n``) of one buyer in ten, and their
    buyer messages at the buyer's own hour (Shanghai time), give or take two hours."""
    at = f"'{now.isoformat()}'::timestamptz"
    hours = "ARRAY[" + ",".join(str(h) for h in HOURS) + "]"
    return [
        f"""INSERT INTO conversation (id, shop_id, customer_id, team, status, opened_at,
                queued_at, last_message_at, closed_at, outcome, unread, buyer_messages,
                agent_messages)
            SELECT v, {shop}, cid, 'presale', 'closed', opened, opened,
                   opened + interval '30 minutes', opened + interval '40 minutes', '', 0,
                   2 + floor(bench_u(v, 82) * 4)::int, 0
            FROM (SELECT c.id * 4 + n AS v, c.id AS cid,
                         date_trunc('day', {at} - interval '1 day' * (1 + floor(
                             bench_u(c.id * 4 + n, 81) * {DAYS}))) AT TIME ZONE 'UTC'
                           AT TIME ZONE 'Asia/Shanghai' + interval '1 hour' * (
                             ({hours})[1 + floor(bench_u(c.id, 80) * {len(HOURS)})::int]
                             + floor(bench_u(c.id * 4 + n, 83) * 5)::int - 2)
                           AS opened
                  FROM customer c
                  CROSS JOIN LATERAL generate_series(1, 1 + (bench_u(c.id, 84) < 0.5)::int) n
                  WHERE c.shop_id = {shop} AND c.id > {base} AND c.id % 10 = 3) chats""",
        f"""INSERT INTO message (shop_id, conversation_id, sender, text, meta, created_at)
            SELECT {shop}, v.id, 'buyer', {_pick(WORDS, "v.id * 8 + m", 85)}, '{{}}',
                   v.opened_at + interval '4 minutes' * m
            FROM conversation v
            CROSS JOIN LATERAL generate_series(1, v.buyer_messages) m
            WHERE v.shop_id = {shop} AND v.customer_id > {base}""",
        f"""UPDATE conversation SET last_message_at = opened_at
                + interval '4 minutes' * buyer_messages
            WHERE shop_id = {shop} AND customer_id > {base}""",
    ]


def sequences_sql() -> list[str]:
    """The tables filled with explicit ids carry on after them."""
    return [
        f"SELECT setval('{table}_id_seq', (SELECT coalesce(max(id), 0) + 1 FROM {quoted}), false)"
        for table, quoted in (
            ("customer", "customer"),
            ("order", '"order"'),
            ("conversation", "conversation"),
        )
    ]


# As ``pg_restore --disable-triggers`` loads rows made consistent elsewhere: the foreign
# keys' checks and the triggers stay off for the rows written here (the order's channel,
# which a trigger copies from its buyer, is written with it), on again for the refunds,
# whose trigger marks their orders.
QUIET, LOUD = "SET session_replication_role = replica", "SET session_replication_role = DEFAULT"


def fill_sql(shop: int, base: int, customers: int, now: datetime) -> list[tuple[str, list[str]]]:
    """The steps, each a label and its statements, in order."""
    orders, items, refunds, reviews = orders_sql(shop, base, now)
    return [
        ("catalogue", [FUNCTION, *catalogue_sql(shop, now)]),
        ("customers", [QUIET, customers_sql(shop, base, customers, now), LOUD]),
        ("orders, items, refunds, reviews", [QUIET, orders, items, LOUD, refunds, reviews]),
        ("conversations and messages", [QUIET, *chats_sql(shop, base, now), LOUD]),
        ("sequences", sequences_sql()),
    ]
