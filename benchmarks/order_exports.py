"""Sample seller-centre exports: realistic, deterministic, and fast to write.

:func:`write_sample_export` writes an order list and its item list the way the seller
centre does (full header with its trailing spaces, GBK text, ``="…"`` order numbers and
the other quirks), for tests, demos and import benchmarks. :func:`rewrite_with_changes`
writes a "newer export" of an order list in which some orders moved on, for tests of
repeated imports.

Everything is generated from the seed alone: the same arguments give the same bytes.
Rows are written as they are generated, so memory stays flat for any number of orders.
Rows are not in time order; every order's own timestamps are consistent with its status
and none is later than the export time in the file name.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from xiaoer.core.clock import DEFAULT_ZONE
from xiaoer.core.money import fen_to_yuan
from xiaoer.orders.models import TradeStatus
from xiaoer.sellercentre.exports import SNIFF_BYTES, ExportError, clean_cell, sniff_encoding

# The order-list header of a seller-centre export, in order, trailing spaces included.
ORDER_LIST_HEADER: tuple[str, ...] = (
    "订单编号",
    "买家会员名",
    "买家支付宝账号",
    "买家应付货款",
    "买家应付邮费",
    "买家支付积分",
    "总金额",
    "返点积分",
    "买家实际支付金额",
    "买家实际支付积分",
    "订单状态",
    "买家留言",
    "收货人姓名",
    "收货地址 ",
    "运送方式",
    "联系电话 ",
    "联系手机",
    "订单创建时间",
    "订单付款时间 ",
    "宝贝标题 ",
    "宝贝种类 ",
    "物流单号 ",
    "物流公司",
    "订单备注",
    "宝贝总数量",
    "店铺Id",
    "店铺名称",
    "订单关闭原因",
    "卖家服务费",
    "买家服务费",
    "发票抬头",
    "是否手机订单",
    "分阶段订单信息",
    "特权订金订单id",
    "是否上传合同照片",
    "是否上传小票",
    "是否代付",
    "定金排名",
    "修改后的sku",
    "修改后的收货地址",
    "异常信息",
    "天猫卡券抵扣",
    "集分宝抵扣",
    "是否是O2O交易",
    "新零售交易类型",
    "新零售导购门店名称",
    "新零售导购门店id",
    "新零售发货门店名称",
    "新零售发货门店id",
    "退款金额",
    "预约门店",
    "确认收货时间",
    "打款商家金额",
    "含应开票给个人的个人红包",
)

# Columns newer Tmall exports append (written when ``tmall_columns`` is asked for).
TMALL_EXTRA_COLUMNS: tuple[str, ...] = (
    "支付单号",
    "支付详情",
    "发货时间",
    "商家备忘",
    "主订单编号",
    "预售订单",
)

ITEM_LIST_HEADER: tuple[str, ...] = (
    "订单编号",
    "标题",
    "价格",
    "购买数量",
    "外部系统编号",
    "商品属性",
    "套餐信息",
    "备注",
    "订单状态",
    "商家编码",
)

# The window of creation times an export covers, ending at the export time.
WINDOW_DAYS = 30
DEFAULT_START = datetime(2024, 3, 1)

_HOUR = 3600
_DAY = 86400

# ---------------------------------------------------------------------------
# Word pools
# ---------------------------------------------------------------------------

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝"
)
_GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华玉萍红玲芬燕彬鹏辉斌婷雪琳晨浩宇欣怡"
    "涵轩萱诺远琪俊峰珍国志丹佳文博思雅子梓欢乐亮建春"
)
_PINYIN_NICKS = (
    "xiaoyu",
    "lele",
    "momo",
    "sunny",
    "jiajia",
    "tiantian",
    "dabao",
    "niuniu",
    "mumu",
    "kiki",
    "echo",
    "lucky",
    "coco",
    "yoyo",
    "chenchen",
    "qiqi",
)
_CHINESE_NICKS = (
    "爱吃鱼的猫",
    "小确幸",
    "追风少年",
    "糖果屋",
    "梦里花落",
    "向日葵",
    "快乐小猪",
    "南风知我意",
    "一只小胖子",
    "夏天的风",
    "安静的美男子",
    "大白兔奶糖",
    "橘子汽水",
    "慢慢来",
    "柠檬不萌",
    "晴天娃娃",
)
# (province, city, districts, postcode prefix)
_PLACES = (
    ("浙江省", "杭州市", ("西湖区", "余杭区", "拱墅区", "滨江区"), "310"),
    ("江苏省", "南京市", ("鼓楼区", "玄武区", "江宁区"), "210"),
    ("江苏省", "苏州市", ("姑苏区", "工业园区", "吴中区"), "215"),
    ("广东省", "广州市", ("天河区", "海珠区", "番禺区"), "510"),
    ("广东省", "深圳市", ("南山区", "福田区", "宝安区", "龙岗区"), "518"),
    ("上海", "上海市", ("浦东新区", "闵行区", "徐汇区"), "200"),
    ("北京", "北京市", ("朝阳区", "海淀区", "丰台区"), "100"),
    ("四川省", "成都市", ("武侯区", "锦江区", "双流区"), "610"),
    ("湖北省", "武汉市", ("洪山区", "江汉区", "武昌区"), "430"),
    ("山东省", "青岛市", ("市南区", "崂山区", "黄岛区"), "266"),
    ("河南省", "郑州市", ("金水区", "二七区", "中原区"), "450"),
    ("福建省", "厦门市", ("思明区", "湖里区", "集美区"), "361"),
    ("陕西省", "西安市", ("雁塔区", "碑林区", "未央区"), "710"),
    ("湖南省", "长沙市", ("岳麓区", "芙蓉区", "雨花区"), "410"),
    ("重庆", "重庆市", ("渝北区", "江北区", "南岸区"), "400"),
    ("天津", "天津市", ("南开区", "河西区", "滨海新区"), "300"),
)
_STREETS = (
    "文三路",
    "建设路",
    "人民路",
    "解放路",
    "中山路",
    "和平路",
    "长江路",
    "新华路",
    "学府路",
    "科技路",
    "滨江大道",
    "青年路",
    "光明街",
    "幸福路",
    "东风路",
)
_COMPOUNDS = (
    "阳光花园",
    "万科城",
    "金地名郡",
    "碧桂园",
    "绿城桂花园",
    "保利香槟国际",
    "华润二十四城",
    "龙湖春江郦城",
    "恒大名都",
    "翠苑一区",
    "世纪新城",
    "锦绣江南",
)
_MOBILE_PREFIXES = (
    *(f"13{d}" for d in "012356789"),
    *(f"15{d}" for d in "0125789"),
    "166",
    "176",
    "177",
    *(f"18{d}" for d in "0125689"),
    "191",
    "198",
    "199",
)
_MESSAGES = (
    "请尽快发货，谢谢",
    "麻烦发中通快递",
    "帮忙挑一下颜色一致的",
    "周末家里没人，请放门卫",
    "是送人的，不要放价格单",
    "能不能顺便送个挂钩",
    "尺寸麻烦再核对一下",
    "包装结实一点，谢谢老板",
)
_MULTILINE_MESSAGES = (
    "麻烦发顺丰\n到了先打电话",
    "窗帘要打孔的\n挂钩多送几个\n谢谢",
    "白天不在家\n请放快递柜",
    "颜色选错了\n改成浅灰，谢谢",
)
_MEMOS = ("已核对地址", "赠品：挂钩x10", "顾客要求顺丰，补了邮费", "加急", "已电话确认尺寸")
_COURIERS = (
    ("中通快递", "73", 12),
    ("圆通速递", "YT", 13),
    ("韵达快递", "43", 11),
    ("申通快递", "77", 13),
    ("顺丰速运", "SF", 13),
    ("极兔速递", "JT", 13),
    ("邮政快递包裹", "98", 11),
    ("德邦快递", "DPK", 12),
)

# Home-decor products: (title, product code, (attribute, values), (attribute, sizes with
# extra price in fen), base price in fen).
_Product = tuple[
    str, str, tuple[str, tuple[str, ...]], tuple[str, tuple[tuple[str, int], ...]], int
]
_PRODUCTS: tuple[_Product, ...] = (
    (
        "北欧简约全遮光窗帘成品客厅卧室加厚隔热遮阳布",
        "CL2027",
        ("颜色分类", ("米白", "浅灰", "雾霾蓝", "墨绿", "焦糖色")),
        (
            "尺码",
            (("1.5米宽*2.7米高", 0), ("2米宽*2.7米高", 3000), ("3米宽*2.7米高", 7000)),
        ),
        8900,
    ),
    (
        "白色窗纱成品飘窗客厅卧室透光不透人纱帘",
        "SL1102",
        ("颜色分类", ("白纱", "米白提花")),
        ("尺码", (("2米宽*2.7米高", 0), ("3米宽*2.7米高", 2500), ("4米宽*2.7米高", 5000))),
        4990,
    ),
    (
        "ins风纯棉四件套全棉床单被套简约床上用品",
        "CT4401",
        ("颜色分类", ("奶白格", "牛油果绿", "燕麦色", "雾粉")),
        ("尺码", (("1.5m床（被套200*230）", 0), ("1.8m床（被套220*240）", 4000))),
        19900,
    ),
    (
        "北欧风客厅地毯茶几毯卧室床边毯家用大面积",
        "DT3308",
        ("颜色分类", ("几何灰", "摩洛哥", "奶油白")),
        (
            "尺码",
            (("80*160cm", 0), ("120*180cm", 6000), ("160*230cm", 14000), ("200*300cm", 26000)),
        ),
        6900,
    ),
    (
        "陶瓷花瓶摆件客厅插花干花北欧创意家居装饰",
        "HP0612",
        ("颜色分类", ("哑光白", "莫兰迪绿", "复古棕")),
        ("规格", (("小号", 0), ("中号", 1500), ("大号", 3000))),
        3580,
    ),
    (
        "网红抱枕靠垫客厅沙发靠枕床头靠背含芯",
        "BZ0923",
        ("颜色分类", ("灰色条纹", "焦糖格", "奶白毛绒")),
        ("尺码", (("45*45cm含芯", 0), ("50*50cm含芯", 800), ("30*50cm腰枕", 0))),
        2990,
    ),
    (
        "LED吸顶灯卧室灯简约现代圆形客厅灯具",
        "DJ5510",
        ("颜色分类", ("白光40W", "三色变光40W", "智能调光72W")),
        ("尺寸", (("直径40cm", 0), ("直径50cm", 5000), ("直径60cm", 9000))),
        12800,
    ),
    (
        "实木置物架落地客厅多层收纳架卧室书架",
        "ZW7003",
        ("颜色分类", ("原木色", "胡桃色", "白色")),
        ("尺码", (("三层60cm", 0), ("四层80cm", 4000), ("五层100cm", 8000))),
        15900,
    ),
    (
        "日式棉麻桌布布艺长方形茶几布餐桌垫",
        "ZB2206",
        ("颜色分类", ("格子绿", "条纹灰", "亚麻原色")),
        ("尺码", (("90*90cm", 0), ("140*180cm", 2000), ("140*220cm", 3000))),
        2590,
    ),
    (
        "香薰蜡烛礼盒家用室内持久卧室助眠",
        "XX0318",
        ("香味", ("白茶", "无花果", "雪松", "海盐鼠尾草")),
        ("规格", (("200g单杯", 0), ("三杯礼盒", 9000))),
        5900,
    ),
    (
        "北欧装饰画客厅沙发背景墙挂画三联画",
        "ZSH811",
        ("颜色分类", ("抽象线条", "绿植系列", "莫兰迪色块")),
        ("尺码", (("40*60cm单幅", 0), ("50*70cm三联", 16000))),
        6800,
    ),
    (
        "加厚珊瑚绒毛毯冬季沙发盖毯办公室午睡毯",
        "MT1209",
        ("颜色分类", ("燕麦", "浅灰", "奶咖")),
        ("尺码", (("100*150cm", 0), ("150*200cm", 3000), ("200*230cm", 5000))),
        4900,
    ),
)


@dataclass(frozen=True, slots=True)
class _Sku:
    title: str
    outer_id: str
    sku_text: str
    sku_code: str
    price_fen: int


def _catalog() -> tuple[_Sku, ...]:
    """Every SKU of the sample products, in a fixed order."""
    skus: list[_Sku] = []
    for title, code, (colour_name, colours), (size_name, sizes), base in _PRODUCTS:
        for colour_index, colour in enumerate(colours):
            for size_index, (size, extra) in enumerate(sizes):
                skus.append(
                    _Sku(
                        title=title,
                        outer_id=code,
                        sku_text=f"{colour_name}：{colour};{size_name}：{size}",
                        sku_code=f"{code}-{colour_index + 1:02d}{size_index + 1:02d}",
                        price_fen=base + extra,
                    )
                )
    return tuple(skus)


_SKUS = _catalog()

# Trade states: (status, export text) for ordinary orders and for cash on delivery.
_TEXT = {
    TradeStatus.WAIT_BUYER_PAY: "等待买家付款",
    TradeStatus.WAIT_SELLER_SEND_GOODS: "买家已付款，等待卖家发货",
    TradeStatus.SELLER_CONSIGNED_PART: "卖家部分发货",
    TradeStatus.WAIT_BUYER_CONFIRM_GOODS: "卖家已发货，等待买家确认",
    TradeStatus.TRADE_BUYER_SIGNED: "买家已签收",
    TradeStatus.TRADE_FINISHED: "交易成功",
    TradeStatus.TRADE_CLOSED: "交易关闭",
    TradeStatus.TRADE_CLOSED_BY_TAOBAO: "交易被淘宝关闭",
}
_COD_TEXT = {
    TradeStatus.WAIT_BUYER_PAY: "等待买家确认货到付款订单信息",
    TradeStatus.WAIT_SELLER_SEND_GOODS: "买家已确认，等待卖家发货",
    TradeStatus.WAIT_BUYER_CONFIRM_GOODS: "卖家已发货，等待买家确认收货并付款",
    TradeStatus.TRADE_FINISHED: "交易成功",
}
_COD_SIGNED_TEXTS = ("买家已签收", "买家已签收，回款至卖家")

# Cumulative weights for the status of an ordinary order, and of a cash-on-delivery one.
_ORDINARY_WEIGHTS = (
    (0.50, TradeStatus.TRADE_FINISHED),
    (0.64, TradeStatus.WAIT_BUYER_CONFIRM_GOODS),
    (0.74, TradeStatus.WAIT_SELLER_SEND_GOODS),
    (0.84, TradeStatus.TRADE_CLOSED_BY_TAOBAO),
    (0.90, TradeStatus.WAIT_BUYER_PAY),
    (0.96, TradeStatus.TRADE_CLOSED),
    (1.01, TradeStatus.SELLER_CONSIGNED_PART),
)
_COD_WEIGHTS = (
    (0.15, TradeStatus.WAIT_BUYER_PAY),
    (0.30, TradeStatus.WAIT_SELLER_SEND_GOODS),
    (0.50, TradeStatus.WAIT_BUYER_CONFIRM_GOODS),
    (0.80, TradeStatus.TRADE_BUYER_SIGNED),
    (1.01, TradeStatus.TRADE_FINISHED),
)
_COD_SHARE = 0.04
# The first orders of every sample take each status once, so even tiny samples have all.
_FIRST_STATUSES = tuple(TradeStatus)
# Among those, the signed-for one is a cash-on-delivery order (only those are signed for),
# and the partly shipped one needs at least two different items.
_FORCED_COD = _FIRST_STATUSES.index(TradeStatus.TRADE_BUYER_SIGNED)
_FORCED_PARTIAL = _FIRST_STATUSES.index(TradeStatus.SELLER_CONSIGNED_PART)


def _quoted(text: str) -> str:
    """A CSV field, quoted only when it must be (as the seller centre writes them)."""
    if "," in text or '"' in text or "\n" in text or "\r" in text:
        if text.startswith('="') and text.endswith('"') and "," not in text and "\n" not in text:
            return text  # the spreadsheet-text form of numbers is written bare
        return '"' + text.replace('"', '""') + '"'
    return text


@dataclass(slots=True)
class _Timeline:
    """An order's times in seconds after the sample's origin (midnight of its first day)."""

    created: int
    paid: int | None = None
    shipped: int | None = None
    finished: int | None = None


@dataclass(slots=True)
class _Order:
    """One generated order with the cells both files need."""

    order_id: str
    status: TradeStatus
    status_text: str
    cod: bool
    times: _Timeline
    items: list[tuple[_Sku, int]] = field(default_factory=list)


class _Generator:
    """Draws orders from a seeded random source."""

    def __init__(self, seed: int, export_at: int, window: int) -> None:
        self.rng = random.Random(seed)
        self.export_at = export_at
        self.window = window
        self.id_base = 3_300_000_000_000_000_000 + (seed % 997) * 10**13

    def pick(self, pool: tuple[Any, ...] | list[Any] | str) -> Any:
        return pool[int(self.rng.random() * len(pool))]

    def status(self, index: int, cod: bool, item_kinds: int) -> TradeStatus:
        """A status drawn by weight; the first orders of a sample take each in turn."""
        if index < len(_FIRST_STATUSES):
            return _FIRST_STATUSES[index]
        draw = self.rng.random()
        for limit, status in _COD_WEIGHTS if cod else _ORDINARY_WEIGHTS:
            if draw < limit:
                if status is TradeStatus.SELLER_CONSIGNED_PART and item_kinds < 2:
                    return TradeStatus.WAIT_BUYER_CONFIRM_GOODS
                return status
        return TradeStatus.TRADE_FINISHED

    def timeline(self, status: TradeStatus) -> _Timeline:
        """Times consistent with ``status``, all within the window and before export."""
        rnd = self.rng.random
        pay = 20 + int(rnd() * rnd() * 2 * _HOUR)
        ship = 2 * _HOUR + int(rnd() * 60 * _HOUR)
        finish = 3 * _DAY + int(rnd() * 9 * _DAY)
        refund = _HOUR + int(rnd() * 4 * _DAY)
        steps: tuple[int, ...]
        if status is TradeStatus.WAIT_BUYER_PAY:
            low, high, steps = 0, 20 * _HOUR, ()
        elif status is TradeStatus.TRADE_CLOSED_BY_TAOBAO:
            low, high, steps = 0, self.window, ()
        elif status is TradeStatus.WAIT_SELLER_SEND_GOODS:
            low, high, steps = pay, pay + 48 * _HOUR, (pay,)
        elif status is TradeStatus.TRADE_CLOSED:
            low, high, steps = pay + refund, self.window, (pay,)
        elif status is TradeStatus.TRADE_FINISHED:
            low, high, steps = pay + ship + finish, self.window, (pay, ship, finish)
        else:  # shipped, not yet finished
            low, high, steps = pay + ship, pay + ship + 10 * _DAY, (pay, ship)
        high = min(high, self.window)
        low = min(low, high)
        created = self.export_at - low - int(rnd() * (high - low))
        times = _Timeline(created)
        moment = created
        for position, step in enumerate(steps):
            moment += step
            if position == 0:
                times.paid = moment
            elif position == 1:
                times.shipped = moment
            else:
                times.finished = moment
        return times

    def order(self, index: int) -> _Order:
        rnd = self.rng.random
        kinds = 1 if rnd() < 0.7 else (2 if rnd() < 0.75 else 3)
        if index == _FORCED_PARTIAL:
            kinds = max(kinds, 2)
        items: list[tuple[_Sku, int]] = []
        for _ in range(kinds):
            sku = self.pick(_SKUS)
            while any(sku is chosen for chosen, _ in items):
                sku = self.pick(_SKUS)
            draw = rnd()
            items.append((sku, 1 if draw < 0.8 else (2 if draw < 0.95 else 3)))
        forced = len(_FIRST_STATUSES)
        cod = index == _FORCED_COD or (index >= forced and rnd() < _COD_SHARE)
        status = self.status(index, cod, kinds)
        times = self.timeline(status)
        if cod:
            text = _COD_TEXT.get(status) or self.pick(_COD_SIGNED_TEXTS)
            # Cash on delivery is paid when the goods are signed for, not at ordering.
            if status in (TradeStatus.TRADE_BUYER_SIGNED, TradeStatus.TRADE_FINISHED):
                assert times.shipped is not None
                signed = times.shipped + _DAY + int(rnd() * 2 * _DAY)
                times.paid = min(signed, self.export_at, times.finished or self.export_at)
            else:
                times.paid = None
        else:
            text = _TEXT[status]
        order_id = str(self.id_base + index * 7919 + int(rnd() * 7919))
        return _Order(order_id, status, text, cod, times, items)

    def nick(self) -> str:
        rnd = self.rng.random
        draw = rnd()
        if draw < 0.35:
            return f"tb{int(rnd() * 10**10):010d}"
        if draw < 0.65:
            return f"{self.pick(_PINYIN_NICKS)}{int(rnd() * 9000) + 100}"
        if draw < 0.9:
            return str(self.pick(_CHINESE_NICKS))
        return f"{self.pick(_CHINESE_NICKS)}{int(rnd() * 90) + 10}"

    def person(self) -> str:
        given = self.pick(_GIVEN)
        if self.rng.random() < 0.7:
            given += self.pick(_GIVEN)
        return f"{self.pick(_SURNAMES)}{given}"

    def mobile(self) -> str:
        return f"{self.pick(_MOBILE_PREFIXES)}{int(self.rng.random() * 10**8):08d}"

    def address(self) -> str:
        rnd = self.rng.random
        province, city, districts, postcode = self.pick(_PLACES)
        return (
            f"{province} {city} {self.pick(districts)} {self.pick(_STREETS)}"
            f"{int(rnd() * 800) + 1}号{self.pick(_COMPOUNDS)}{int(rnd() * 30) + 1}幢"
            f"{int(rnd() * 4) + 1}单元{int(rnd() * 28) + 1}0{int(rnd() * 4) + 1}室"
            f"({postcode}{int(rnd() * 900) + 100:03d})"
        )

    def tracking(self) -> tuple[str, str]:
        courier, prefix, digits = self.pick(_COURIERS)
        number = int(self.rng.random() * 10**digits)
        return courier, f"{prefix}{number:0{digits}d}"


class _Clock:
    """Formats times given as seconds after the origin, with cached day strings."""

    def __init__(self, origin: datetime, days: int) -> None:
        self.origin = origin
        self.days = [(origin + timedelta(days=d)).strftime("%Y-%m-%d") for d in range(days)]

    def text(self, moment: int | None) -> str:
        if moment is None:
            return ""
        day, second = divmod(moment, _DAY)
        hour, rest = divmod(second, _HOUR)
        minute, second = divmod(rest, 60)
        return f"{self.days[day]} {hour:02d}:{minute:02d}:{second:02d}"

    def value(self, moment: int) -> datetime:
        return self.origin + timedelta(seconds=moment)


def _shop_local(start: datetime | None) -> datetime:
    """The window start as a naive shop-local wall time."""
    if start is None:
        return DEFAULT_START
    if start.tzinfo is not None:
        return start.astimezone(ZoneInfo(DEFAULT_ZONE)).replace(tzinfo=None)
    return start


# Columns whose generated text may hold commas, quotes or line breaks; every other
# generated cell is known to be plain.
_FREE_TEXT = frozenset({"买家会员名", "买家留言", "收货人姓名", "收货地址", "宝贝标题", "订单备注"})
_FREE_TEXT |= {"商家备忘", "标题", "商品属性", "备注"}


class _CsvSink:
    """Writes rows of text cells as CSV lines, quoting only the cells that need it.

    With ``header`` given, only its free-text columns are checked for quoting (the
    generator's other cells are plain); without it, every cell is checked.
    """

    def __init__(self, out: IO[str], header: list[str] | None = None) -> None:
        self.out = out
        self.check_at: tuple[int, ...] | None = None
        if header is not None:
            self.check_at = tuple(i for i, name in enumerate(header) if name.strip() in _FREE_TEXT)

    def write(self, cells: list[Any]) -> None:
        if self.check_at is None:
            line = ",".join([_quoted(str(cell)) for cell in cells])
        else:
            for index in self.check_at:
                cells[index] = _quoted(cells[index])
            line = ",".join(cells)
        self.out.write(line + "\r\n")


def write_sample_export(
    directory: str | Path,
    orders: int,
    seed: int = 0,
    *,
    encoding: str = "gb18030",
    xlsx: bool = False,
    start: datetime | None = None,
    quirks: bool = True,
    tmall_columns: bool = False,
) -> tuple[Path, Path]:
    """Write a sample export pair into ``directory``; return (order list, item list).

    Orders are created within the 30 days from ``start`` (shop-local, default
    2024-03-01 00:00); the export time, in both file names, is the end of that window.
    With ``xlsx`` the order list is a workbook (the item list stays CSV in ``encoding``).
    ``quirks`` adds what real files carry: ``="…"`` order numbers (plain text in xlsx),
    phones with a leading ``'``, some ``元`` suffixes, multi-line buyer messages and, in
    xlsx, some amounts and times as spreadsheet numbers and dates. ``tmall_columns``
    appends the newer Tmall columns (发货时间, 商家备忘, …).

    All eight trade states occur once ``orders`` is at least 8; every order has 1–3
    items whose prices times quantities add up to its 买家应付货款.
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    window = WINDOW_DAYS * _DAY
    first = _shop_local(start)
    origin = datetime.combine(first.date(), datetime.min.time())
    offset = int((first - origin).total_seconds())
    export_at = offset + window
    clock = _Clock(origin, WINDOW_DAYS + 2)
    stamp = clock.value(export_at).strftime("%Y%m%d%H%M")
    list_path = folder / f"ExportOrderList{stamp}.{'xlsx' if xlsx else 'csv'}"
    items_path = folder / f"ExportOrderDetailList{stamp}.csv"
    header = [*ORDER_LIST_HEADER, *(TMALL_EXTRA_COLUMNS if tmall_columns else ())]
    generator = _Generator(seed, export_at, window)
    rows = _order_rows(generator, clock, orders, quirks=quirks, xlsx=xlsx, tmall=tmall_columns)
    with items_path.open("w", encoding=encoding, newline="") as items_file:
        item_sink = _CsvSink(items_file, list(ITEM_LIST_HEADER))
        items_file.write(",".join(ITEM_LIST_HEADER) + "\r\n")
        if xlsx:
            _write_xlsx(list_path, header, rows, item_sink)
        else:
            with list_path.open("w", encoding=encoding, newline="") as list_file:
                list_sink = _CsvSink(list_file, header)
                list_file.write(",".join(header) + "\r\n")
                for order_cells, item_rows in rows:
                    list_sink.write(order_cells)
                    for item_cells in item_rows:
                        item_sink.write(item_cells)
    return list_path, items_path


def _write_xlsx(
    path: Path,
    header: list[str],
    rows: Iterator[tuple[list[Any], list[list[Any]]]],
    item_sink: _CsvSink,
) -> None:
    """Stream the order list into a write-only workbook, items into their CSV."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("订单报表")
    sheet.append(header)
    for order_cells, item_rows in rows:
        sheet.append(order_cells)
        for item_cells in item_rows:
            item_sink.write(item_cells)
    book.save(path)


def _order_rows(
    generator: _Generator,
    clock: _Clock,
    count: int,
    *,
    quirks: bool,
    xlsx: bool,
    tmall: bool,
) -> Iterator[tuple[list[Any], list[list[Any]]]]:
    """Each order's list row and its item rows, generated one order at a time."""
    rnd = generator.rng.random
    pick = generator.pick
    text_of = clock.text
    shop_id = str(60_000_000 + generator.id_base % 9_000_000)
    shop_name = "暖居生活家居旗舰店"

    def money(fen: int) -> Any:
        if quirks:
            draw = rnd()
            if draw < 0.05:
                return fen_to_yuan(fen) + "元"
            if xlsx and draw < 0.15:
                return fen / 100  # a spreadsheet number; repr gives back the two decimals
        return fen_to_yuan(fen)

    def when(moment: int | None) -> Any:
        if moment is not None and xlsx and quirks and rnd() < 0.2:
            return clock.value(moment)
        return text_of(moment)

    for index in range(count):
        order = generator.order(index)
        times = order.times
        status = order.status
        goods = sum(sku.price_fen * quantity for sku, quantity in order.items)
        postage = 0 if rnd() < 0.85 else pick((800, 1000, 1500))
        total = goods + postage
        paid = total if times.paid is not None else 0
        refunded = 0
        close_reason = ""
        if status is TradeStatus.TRADE_CLOSED:
            refunded, close_reason = paid, "退款"
        elif status is TradeStatus.TRADE_CLOSED_BY_TAOBAO:
            close_reason = "买家未付款"
        elif status is TradeStatus.TRADE_FINISHED and rnd() < 0.05:
            refunded = order.items[0][0].price_fen
        settled = paid - refunded if status is TradeStatus.TRADE_FINISHED else 0
        courier, tracking = generator.tracking() if times.shipped is not None else ("", "")
        mobile = generator.mobile()
        message = ""
        if rnd() < 0.12:
            message = pick(_MULTILINE_MESSAGES) if quirks and rnd() < 0.2 else pick(_MESSAGES)
        memo = pick(_MEMOS) if rnd() < 0.05 else ""
        # Spreadsheets keep order numbers as text: as numbers they would lose digits.
        shown_id = f'="{order.order_id}"' if quirks and not xlsx else order.order_id
        titles = "，".join(sku.title for sku, _ in order.items)
        quantity = sum(q for _, q in order.items)
        alipay = f"{mobile[:3]}****{mobile[-4:]}"
        cells: list[Any] = [
            shown_id,
            generator.nick(),
            alipay,
            money(goods),
            money(postage),
            "0",
            money(total),
            "0",
            money(paid),
            "0",
            order.status_text,
            message,
            generator.person(),
            generator.address(),
            "货到付款" if order.cod else "快递",
            "",
            f"'{mobile}" if quirks and rnd() < 0.3 else mobile,
            when(times.created),
            when(times.paid),
            titles,
            str(len(order.items)),
            tracking,
            courier,
            "" if tmall else memo,
            str(quantity),
            shop_id,
            shop_name,
            close_reason,
            "0.00",
            "0.00",
            "",
            "手机订单" if rnd() < 0.85 else "",
            "",
            "",
            "否",
            "否",
            "否",
            "",
            "",
            "",
            "",
            "0.00",
            "0.00",
            "",
            "",
            "",
            "",
            "",
            "",
            money(refunded),
            "",
            when(times.finished if status is TradeStatus.TRADE_FINISHED else None),
            fen_to_yuan(settled) + "元" if quirks else fen_to_yuan(settled),
            "0.00",
        ]
        if tmall:
            trade_no = (
                f"{text_of(times.paid)[:10].replace('-', '')}22001{int(rnd() * 10**15):015d}"
                if times.paid is not None and not order.cod
                else ""
            )
            cells += [
                trade_no,
                f"支付宝:{fen_to_yuan(paid)}" if trade_no else "",
                when(times.shipped),
                memo,
                order.order_id,
                "否",
            ]
        item_rows: list[list[Any]] = []
        for sku, count_of in order.items:
            price = fen_to_yuan(sku.price_fen)
            if quirks and rnd() < 0.05:
                price += "元"
            item_rows.append(
                [
                    f'="{order.order_id}"' if quirks else order.order_id,
                    sku.title,
                    price,
                    str(count_of),
                    sku.outer_id,
                    sku.sku_text,
                    "",
                    "",
                    order.status_text,
                    sku.sku_code,
                ]
            )
        yield cells, item_rows


# ---------------------------------------------------------------------------
# A newer export of the same orders
# ---------------------------------------------------------------------------


@dataclass(slots=True)
class RewriteSummary:
    """The orders :func:`rewrite_with_changes` moved on, by platform order number."""

    paid: list[str] = field(default_factory=list)
    shipped: list[str] = field(default_factory=list)


def rewrite_with_changes(
    list_path: str | Path, out_path: str | Path, fraction: float, seed: int
) -> RewriteSummary:
    """Write a newer export of a CSV order list in which some orders moved on.

    About ``fraction`` of the orders waiting for payment (等待买家付款) become paid
    (status, 订单付款时间 and 买家实际支付金额 filled), and about ``fraction`` of those
    waiting to be shipped become shipped (status, 物流单号, 物流公司 and 发货时间 when the
    file has that column). Everything else is copied unchanged, in the input's encoding.
    Cash-on-delivery orders are left alone.
    """
    source = Path(list_path)
    with source.open("rb") as probe:
        head = probe.read(SNIFF_BYTES)
    if head.startswith(b"PK\x03\x04"):
        raise ExportError("rewrite_with_changes reads CSV order lists only")
    encoding = sniff_encoding(head, whole_file=len(head) < SNIFF_BYTES)
    rng = random.Random(seed)
    tracking = _Generator(seed, 0, 0).tracking
    summary = RewriteSummary()
    with (
        source.open(encoding=encoding, newline="") as src,
        Path(out_path).open("w", encoding=encoding, newline="") as out,
    ):
        reader = csv.reader(src)
        header = next(reader, None)
        if header is None:
            raise ExportError("the order list is empty")
        sink = _CsvSink(out)
        sink.write(header)
        columns: dict[str, int] = {}
        for index, name in enumerate(header):
            columns.setdefault(name.strip(), index)
        change = _row_changer(columns, rng, tracking, fraction, summary)
        for cells in reader:
            if cells:
                change(cells)
            sink.write(cells)
    return summary


def _row_changer(
    columns: dict[str, int],
    rng: random.Random,
    tracking: Callable[[], tuple[str, str]],
    fraction: float,
    summary: RewriteSummary,
) -> Callable[[list[str]], None]:
    """A function moving one order-list row on, in place, when the dice say so."""
    try:
        i_id, i_status, i_created = (columns[n] for n in ("订单编号", "订单状态", "订单创建时间"))
    except KeyError as exc:
        raise ExportError(f"missing column {exc.args[0]}: not an order list") from exc
    i_paid_at = columns.get("订单付款时间")
    i_paid = columns.get("买家实际支付金额")
    i_total = columns.get("总金额")
    i_tracking = columns.get("物流单号")
    i_courier = columns.get("物流公司")
    i_shipped_at = columns.get("发货时间")
    unpaid, waiting = _TEXT[TradeStatus.WAIT_BUYER_PAY], _TEXT[TradeStatus.WAIT_SELLER_SEND_GOODS]

    def moment(text: str, after: int) -> str:
        try:
            base = datetime.fromisoformat(clean_cell(text))
        except ValueError:
            return ""
        return (base + timedelta(seconds=after)).strftime("%Y-%m-%d %H:%M:%S")

    def change(cells: list[str]) -> None:
        if max(i_id, i_status, i_created) >= len(cells):
            return
        status = cells[i_status].strip()
        if status == unpaid and rng.random() < fraction:
            cells[i_status] = waiting
            paid_at = moment(cells[i_created], 60 + int(rng.random() * _HOUR))
            if i_paid_at is not None and i_paid_at < len(cells):
                cells[i_paid_at] = paid_at
            if i_paid is not None and i_total is not None and max(i_paid, i_total) < len(cells):
                cells[i_paid] = cells[i_total]
            summary.paid.append(clean_cell(cells[i_id]).lstrip("'"))
        elif status == waiting and rng.random() < fraction:
            cells[i_status] = _TEXT[TradeStatus.WAIT_BUYER_CONFIRM_GOODS]
            courier, number = tracking()
            if i_tracking is not None and i_tracking < len(cells):
                cells[i_tracking] = number
            if i_courier is not None and i_courier < len(cells):
                cells[i_courier] = courier
            if i_shipped_at is not None and i_shipped_at < len(cells):
                base = cells[i_paid_at] if i_paid_at is not None else cells[i_created]
                cells[i_shipped_at] = moment(base, 4 * _HOUR + int(rng.random() * 20 * _HOUR))
            summary.shipped.append(clean_cell(cells[i_id]).lstrip("'"))

    return change


__all__ = [
    "ITEM_LIST_HEADER",
    "ORDER_LIST_HEADER",
    "TMALL_EXTRA_COLUMNS",
    "RewriteSummary",
    "rewrite_with_changes",
    "write_sample_export",
]
