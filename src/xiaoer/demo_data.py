"""What the demo shop holds (see :mod:`xiaoer.demo`): its catalogue and promotions, the
word lists its buyers are drawn from, what buyers and agents say in its chats, and the
builders of those rows.

Every text here is written for this project. Prices are in fen.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from xiaoer.catalog.models import Product, Promotion, PromotionKind, Sku
from xiaoer.shops.models import Platform

SHOP_NAME = "棠舍家居"
DEFAULT_COURIER = "顺丰"
ZONE = "Asia/Shanghai"
_TZ = ZoneInfo(ZONE)


@dataclass(frozen=True)
class ProductSpec:
    """One product; its SKUs are every colour crossed with every size."""

    code: str
    title: str
    category: str
    description: str
    colors: tuple[str, ...]
    sizes: tuple[tuple[str, int], ...]  # (size text, price in fen)
    size_key: str = "尺寸"
    color_key: str = "颜色分类"
    custom_made: bool = False
    # Fewest and most units a buyer takes (metres or square metres when made to measure).
    quantity: tuple[int, int] = (1, 2)
    popularity: int = 3  # relative weight when buyers pick products
    bulky: bool = False  # goes by freight courier


_PER_METRE = "每米宽(高2.8米内)"

PRODUCTS: tuple[ProductSpec, ...] = (
    ProductSpec(
        "CL-101",
        "北欧简约全遮光窗帘 成品挂钩款 卧室客厅通用",
        "窗帘",
        "三层织造遮光布，午睡也能拉出一屋暗；挂钩已缝好，收到就能挂。",
        ("米白", "浅灰", "雾蓝"),
        (("宽2米*高2.7米", 12900), ("宽3米*高2.7米", 18900)),
        popularity=6,
    ),
    ProductSpec(
        "CL-102",
        "棉麻质感纯色窗帘 半遮光透气 打孔款",
        "窗帘",
        "仿棉麻肌理，透一点柔光不刺眼，适合朝北的房间和书房。",
        ("燕麦色", "亚麻灰"),
        (("宽1.5米*高2.7米", 8900), ("宽2米*高2.7米", 11900), ("宽3米*高2.7米", 16900)),
        popularity=5,
    ),
    ProductSpec(
        "CL-103",
        "高精密遮光窗帘 按尺寸定做 韩式褶",
        "窗帘",
        "按您量好的宽高裁剪缝制，一米起做；下单请留言窗户宽度和高度。",
        ("奶咖", "墨绿", "深灰"),
        ((_PER_METRE, 6800),),
        custom_made=True,
        quantity=(2, 6),
        popularity=6,
    ),
    ProductSpec(
        "CL-104",
        "雪尼尔绒客厅窗帘 轻奢垂感 定制尺寸",
        "窗帘",
        "绒面厚实有垂坠感，冬天挡风保暖；定做周期三到七天。",
        ("香槟金", "焦糖", "藏青"),
        ((_PER_METRE, 12800),),
        custom_made=True,
        quantity=(3, 6),
        popularity=4,
    ),
    ProductSpec(
        "CL-105",
        "儿童房卡通星星窗帘 遮光 男孩女孩房",
        "窗帘",
        "印星星和月亮的小图案，颜色柔和，孩子午睡更安稳。",
        ("星空蓝", "樱花粉"),
        (("宽1.5米*高2米", 6900), ("宽2米*高2.5米", 9900)),
        popularity=3,
    ),
    ProductSpec(
        "CL-106",
        "法式复古提花窗帘 定做 客厅卧室",
        "窗帘",
        "暗纹提花在光下若隐若现，配铜色罗马杆很好看。",
        ("墨绿", "酒红"),
        (("每米宽(高2.8米内)", 15800), ("每米宽(高3.2米内)", 17800)),
        custom_made=True,
        quantity=(3, 6),
        popularity=2,
    ),
    ProductSpec(
        "CL-107",
        "布纱一体双层窗帘 定制 遮光布加白纱",
        "窗帘",
        "一根轨道挂两层，白天拉纱晚上拉布，省一套轨道的钱。",
        ("米白+白纱", "浅灰+白纱"),
        ((_PER_METRE, 9800),),
        custom_made=True,
        quantity=(2, 5),
        popularity=3,
    ),
    ProductSpec(
        "SH-201",
        "白纱窗帘 透光不透人 阳台飘窗纱帘",
        "纱帘",
        "细密的平纹纱，白天从外面看不清屋里，光线依然通透。",
        ("纯白", "米白"),
        (("宽2米*高2.7米", 4900), ("宽3米*高2.7米", 6900), ("宽4米*高2.7米", 8900)),
        popularity=5,
    ),
    ProductSpec(
        "SH-202",
        "刺绣纱帘 定做 法式田园风",
        "纱帘",
        "纱面绣小叶子和花枝，做窗帘的内层很出效果。",
        ("白色叶子", "白色花枝"),
        ((_PER_METRE, 3800),),
        custom_made=True,
        quantity=(2, 6),
        popularity=2,
    ),
    ProductSpec(
        "BL-301",
        "铝合金百叶帘 卫生间厨房办公室 免打孔",
        "百叶帘",
        "叶片可调角度，防水好擦洗；附免打孔支架，不伤墙面。",
        ("银灰", "象牙白"),
        (("宽0.6米*高1.2米", 5900), ("宽0.9米*高1.5米", 8900), ("宽1.2米*高1.6米", 11900)),
        popularity=3,
    ),
    ProductSpec(
        "BL-302",
        "实木百叶帘 按平方定做 书房茶室",
        "百叶帘",
        "整片椴木叶片，木纹清晰；按平方米计价，不足一平按一平算。",
        ("原木色", "胡桃色"),
        (("每平方米", 26800),),
        custom_made=True,
        quantity=(1, 4),
        popularity=1,
    ),
    ProductSpec(
        "RL-401",
        "遮光卷帘 免打孔安装 卧室飘窗",
        "卷帘",
        "拉珠升降，随停随定；遮光涂层面朝外，夏天隔热明显。",
        ("浅灰", "米黄", "咖啡"),
        (("宽0.8米*高1.6米", 4500), ("宽1.2米*高1.8米", 6500)),
        popularity=4,
    ),
    ProductSpec(
        "RL-402",
        "柔纱斑马帘 定制 客厅卧室百搭",
        "卷帘",
        "一层纱一层布交错，错开透光、对齐遮光，调光很方便。",
        ("灰白", "咖白"),
        (("每平方米", 9800),),
        custom_made=True,
        quantity=(1, 4),
        popularity=3,
    ),
    ProductSpec(
        "RL-403",
        "防水卷帘 卫生间浴室专用 PVC面料",
        "卷帘",
        "不怕水汽，发霉了用湿布一擦就干净。",
        ("白色", "浅灰"),
        (("宽0.6米*高1.5米", 3900), ("宽0.9米*高1.5米", 4900)),
        popularity=2,
    ),
    ProductSpec(
        "RD-501",
        "加粗铝合金罗马杆 单杆 含安装配件",
        "罗马杆",
        "管径28毫米，挂厚绒窗帘也不弯；附膨胀螺丝和说明书。",
        ("哑光黑", "香槟金", "白色"),
        (("1.6米", 5900), ("2.4米", 7900)),
        size_key="长度",
        quantity=(1, 2),
        popularity=4,
    ),
    ProductSpec(
        "RD-502",
        "实木罗马杆 双杆 布纱两层可挂",
        "罗马杆",
        "榉木杆身，手工打磨上漆，布帘纱帘各挂一根。",
        ("胡桃色", "原木色"),
        (("2米", 13900), ("3米", 17900)),
        size_key="长度",
        quantity=(1, 1),
        popularity=2,
    ),
    ProductSpec(
        "TR-601",
        "静音窗帘滑轨 直轨 顶装侧装两用",
        "轨道",
        "滑轮内置静音条，夜里拉窗帘几乎没声音。",
        ("白色",),
        (("1.5米", 3500), ("2米", 4500), ("3米", 6200), ("4米", 7900)),
        size_key="长度",
        quantity=(1, 2),
        popularity=4,
    ),
    ProductSpec(
        "TR-602",
        "可弯曲窗帘轨道 L型弧形飘窗 按米裁切",
        "轨道",
        "按您的飘窗转角现场可弯，发货前按下单米数裁好。",
        ("白色", "黑色"),
        (("每米", 2800),),
        size_key="规格",
        custom_made=True,
        quantity=(2, 6),
        popularity=2,
    ),
    ProductSpec(
        "TR-603",
        "电动窗帘轨道 静音电机 手机遥控 按长度定制",
        "轨道",
        "按长度裁好轨道配电机，可接语音音箱定时开合。",
        ("WiFi版", "遥控器版"),
        (("2米内", 69900), ("3米内", 79900), ("4米内", 89900)),
        color_key="版本",
        size_key="长度",
        custom_made=True,
        quantity=(1, 1),
        popularity=2,
    ),
    ProductSpec(
        "CU-701",
        "棉麻纯色抱枕 含芯 沙发靠垫",
        "抱枕",
        "枕套可拆洗，隐形拉链；枕芯是回弹好的PP棉。",
        ("燕麦", "雾蓝", "姜黄"),
        (("45*45cm", 3900), ("50*50cm", 4900)),
        quantity=(1, 4),
        popularity=5,
    ),
    ProductSpec(
        "CU-702",
        "丝绒抱枕 轻奢 沙发靠枕含芯",
        "抱枕",
        "短绒面料摸起来顺滑，颜色饱满，放在灰沙发上很提气色。",
        ("墨绿", "脏粉", "焦糖", "烟灰"),
        (("45*45cm含芯", 5900),),
        quantity=(1, 4),
        popularity=3,
    ),
    ProductSpec(
        "CU-703",
        "长方形腰枕 床头靠背 护腰靠垫",
        "抱枕",
        "长条形正好垫在腰后，追剧看书都舒服。",
        ("米白", "深灰"),
        (("30*50cm", 3500), ("40*60cm", 4500)),
        quantity=(1, 2),
        popularity=2,
    ),
    ProductSpec(
        "CU-704",
        "刺绣抱枕套 不含芯 田园小清新",
        "抱枕",
        "只含枕套，配家里现有的枕芯；图案是机绣的，不易起毛。",
        ("白底蓝花", "白底绿叶", "米底红果"),
        (("45*45cm", 2900),),
        quantity=(1, 4),
        popularity=2,
    ),
    ProductSpec(
        "TC-801",
        "防水防油桌布 免洗PVC 格子餐桌垫",
        "桌布",
        "汤汁洒上去一擦就掉，不用洗；可按桌面剪裁。",
        ("格纹灰", "格纹绿"),
        (("90*90cm", 2900), ("140*180cm", 4900), ("140*220cm", 5900)),
        quantity=(1, 2),
        popularity=4,
    ),
    ProductSpec(
        "TC-802",
        "棉麻流苏桌布 茶几布 ins风",
        "桌布",
        "四边手工流苏，拍照很上镜；建议冷水手洗。",
        ("米白", "浅卡其"),
        (("100*140cm", 3900), ("140*200cm", 5900)),
        quantity=(1, 2),
        popularity=3,
    ),
    ProductSpec(
        "TC-803",
        "北欧餐桌旗 长条桌旗 简约",
        "桌布",
        "一条桌旗就能让餐桌有主题，节日换着铺。",
        ("灰蓝", "金色"),
        (("33*180cm", 3200),),
        quantity=(1, 2),
        popularity=1,
    ),
    ProductSpec(
        "RG-901",
        "客厅短绒地毯 易打理 几何纹沙发毯",
        "地毯",
        "短绒不藏灰，吸尘器一推就干净；底部防滑颗粒。",
        ("灰白几何", "燕麦纯色"),
        (("1.4米*2米", 29900), ("1.6米*2.3米", 39900), ("2米*3米", 69900)),
        quantity=(1, 1),
        popularity=3,
        bulky=True,
    ),
    ProductSpec(
        "RG-902",
        "卧室床边毯 长毛绒 可机洗",
        "地毯",
        "下床第一脚踩在软绒上；洗衣机轻柔档可洗。",
        ("奶白", "浅灰", "淡粉"),
        (("60*180cm", 8900), ("80*200cm", 11900)),
        quantity=(1, 2),
        popularity=3,
        bulky=True,
    ),
    ProductSpec(
        "RG-903",
        "入户门垫 可裁剪 刮泥吸水地垫",
        "地毯",
        "硬丝面刮鞋底的泥沙，背面橡胶不移位，剪刀就能裁。",
        ("深灰", "咖啡"),
        (("40*60cm", 1900), ("50*80cm", 2900)),
        quantity=(1, 3),
        popularity=3,
    ),
    ProductSpec(
        "AC-951",
        "窗帘挂钩 静音塑料钩 配件",
        "配件",
        "换窗帘时顺手补几个，挂在轨道滑轮上不掉。",
        ("白色",),
        (("20个装", 990), ("50个装", 1990)),
        size_key="规格",
        quantity=(1, 3),
        popularity=3,
    ),
    ProductSpec(
        "AC-952",
        "磁吸窗帘绑带 免打孔 一对装",
        "配件",
        "两头磁扣一吸就固定，不用在墙上钉钩子。",
        ("米白", "金色", "烟灰"),
        (("一对装", 1590),),
        size_key="规格",
        quantity=(1, 3),
        popularity=2,
    ),
)

# (province, city, districts)
CITIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("北京", "北京市", ("朝阳区", "海淀区", "丰台区", "通州区")),
    ("上海", "上海市", ("浦东新区", "闵行区", "徐汇区", "宝山区")),
    ("天津", "天津市", ("南开区", "河西区", "滨海新区")),
    ("重庆", "重庆市", ("渝北区", "江北区", "九龙坡区")),
    ("浙江省", "杭州市", ("西湖区", "拱墅区", "滨江区", "余杭区")),
    ("浙江省", "宁波市", ("鄞州区", "海曙区", "江北区")),
    ("江苏省", "南京市", ("鼓楼区", "建邺区", "江宁区")),
    ("江苏省", "苏州市", ("姑苏区", "吴中区", "工业园区")),
    ("广东省", "广州市", ("天河区", "海珠区", "番禺区", "白云区")),
    ("广东省", "深圳市", ("南山区", "福田区", "龙岗区", "宝安区")),
    ("广东省", "佛山市", ("禅城区", "顺德区", "南海区")),
    ("四川省", "成都市", ("武侯区", "锦江区", "高新区", "双流区")),
    ("湖北省", "武汉市", ("洪山区", "江汉区", "武昌区")),
    ("湖南省", "长沙市", ("岳麓区", "雨花区", "开福区")),
    ("陕西省", "西安市", ("雁塔区", "未央区", "长安区")),
    ("山东省", "青岛市", ("市南区", "崂山区", "黄岛区")),
    ("山东省", "济南市", ("历下区", "槐荫区")),
    ("河南省", "郑州市", ("金水区", "二七区", "郑东新区")),
    ("福建省", "厦门市", ("思明区", "湖里区", "集美区")),
    ("安徽省", "合肥市", ("蜀山区", "包河区", "政务区")),
    ("辽宁省", "沈阳市", ("和平区", "浑南区")),
    ("云南省", "昆明市", ("五华区", "盘龙区")),
    ("新疆维吾尔自治区", "乌鲁木齐市", ("天山区", "沙依巴克区")),
)

# Provinces a parcel costs more to reach.
REMOTE_PROVINCES = frozenset({"新疆维吾尔自治区", "西藏自治区"})

STREETS = (
    "人民路",
    "解放路",
    "中山路",
    "建设路",
    "文化路",
    "青年路",
    "长江路",
    "和平路",
    "新华路",
    "学院路",
    "春风路",
    "银杏大道",
    "滨河路",
    "朝阳街",
)
COMPOUNDS = (
    "桂语花园",
    "枫林湾",
    "云栖府",
    "和园",
    "湖畔雅苑",
    "星河湾",
    "梧桐苑",
    "春晓小区",
    "锦绣家园",
    "青竹苑",
    "时代公寓",
    "荷塘月舍",
    "南山名邸",
    "金桂里",
)

SURNAMES = (
    "王",
    "李",
    "张",
    "刘",
    "陈",
    "杨",
    "黄",
    "赵",
    "吴",
    "周",
    "徐",
    "孙",
    "马",
    "朱",
    "胡",
    "郭",
    "何",
    "高",
    "林",
    "罗",
    "郑",
    "梁",
    "谢",
    "宋",
    "唐",
    "许",
    "韩",
    "冯",
    "邓",
    "曹",
)
FEMALE_NAMES = (
    "婷",
    "静",
    "丽",
    "敏",
    "雪",
    "娟",
    "佳怡",
    "欣然",
    "雨桐",
    "思琪",
    "晓燕",
    "慧",
    "芳",
    "梦瑶",
    "诗涵",
    "若溪",
    "可馨",
    "丹",
    "秋月",
    "一诺",
)
MALE_NAMES = (
    "伟",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "杰",
    "浩然",
    "子轩",
    "宇航",
    "建华",
    "志强",
    "鹏",
    "涛",
    "明",
    "俊熙",
    "文博",
    "嘉树",
    "立新",
    "远航",
)

NICK_HEADS = (
    "小鹿",
    "橘子",
    "阿狸",
    "木木",
    "糖糖",
    "大白",
    "晴天",
    "向日葵",
    "柚子",
    "喵喵",
    "胖虎",
    "七七",
    "月亮",
    "椰子",
    "南风",
    "豆豆",
    "小满",
    "栗子",
    "团团",
    "阿布",
)
NICK_TAILS = (
    "爱睡觉",
    "的小窝",
    "想旅行",
    "在发呆",
    "要装修",
    "不吃香菜",
    "的窗台",
    "家的猫",
    "布丁",
    "酱",
    "同学",
    "很忙",
    "呀",
    "",
)
PHONE_PREFIXES = (
    "130",
    "131",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "155",
    "157",
    "158",
    "159",
    "177",
    "180",
    "186",
    "187",
    "188",
    "189",
    "199",
)

# Couriers the shop uses, with the prefix their waybill numbers start with.
COURIER_PREFIXES = {"顺丰": "SF", "中通快递": "78", "韵达快递": "43", "德邦快递": "DPK"}
# Parcel couriers and how often each is chosen; bulky goods go by freight.
COURIERS = {"顺丰": 65, "中通快递": 25, "韵达快递": 10}
FREIGHT_COURIERS = {"德邦快递": 1}
# Relative order volume per shop-local hour: afternoon and evening peaks.
HOUR_WEIGHTS = (3, 2, 1, 1, 1, 1, 2, 4, 6, 8, 10, 10, 9, 10, 13, 13, 12, 9, 8, 12, 15, 16, 13, 7)

BUYER_MESSAGES = (
    "麻烦尽快发货，周末要搬家",
    "挂钩请多放几个，谢谢",
    "是送人的，包裹里别放价格单",
    "快递放门口的快递柜就行",
    "颜色要和图片一致哦",
    "下午六点以后家里才有人",
)
CUSTOM_MESSAGE = "窗户宽{width}米，高{height}米，做{style}"
CUSTOM_STYLES = ("韩式褶", "打孔款", "挂钩款", "两片对开", "单片")

# Promotions: (kind, name, description, threshold fen, discount fen, days since start, days left)
PROMOTIONS: tuple[tuple[str, str, str, int, int, int, int], ...] = (
    (
        "full_reduction",
        "换季焕新 满300减30",
        "全店商品一次买满300元，结算时自动少付30元，可与店铺券叠加；定制窗帘按实付金额计算。",
        30000,
        3000,
        6,
        18,
    ),
    (
        "coupon",
        "店铺券 满199减20",
        "在商品页领取后，单笔满199元可抵20元，每个账号限领一张，领取后七天内有效。",
        19900,
        2000,
        10,
        20,
    ),
)


def unique(seen: set[str], make: Callable[[], str]) -> str:
    """``make()`` until it gives a value not in ``seen``; remembers it."""
    value = make()
    while value in seen:
        value = make()
    seen.add(value)
    return value


def nick(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.2:
        return f"tb{rng.randint(10**8, 10**9 - 1)}"  # the platform's default nick
    text = rng.choice(NICK_HEADS) + rng.choice(NICK_TAILS)
    return text + str(rng.randint(1, 999)) if roll < 0.7 else text


def phone(rng: random.Random) -> str:
    return f"{rng.choice(PHONE_PREFIXES)}{rng.randint(0, 10**8 - 1):08d}"


def person_name(rng: random.Random, female: bool) -> str:
    return rng.choice(SURNAMES) + rng.choice(FEMALE_NAMES if female else MALE_NAMES)


def address(rng: random.Random) -> tuple[str, str, str]:
    """(province, city, full address written the platform's way)."""
    province, city, districts = rng.choice(CITIES)
    street = f"{rng.choice(STREETS)}{rng.randint(1, 399)}号{rng.choice(COMPOUNDS)}"
    floor, flat = rng.randint(1, 32), rng.randint(1, 4)
    room = f"{rng.randint(1, 24)}幢{rng.randint(1, 4)}单元{floor}0{flat}室"
    return province, city, f"{province} {city} {rng.choice(districts)} {street}{room}"


def local_time(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A shop-local wall time as aware UTC."""
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=_TZ).astimezone(UTC)


def build_catalogue(rng: random.Random, shop_id: int, base: datetime) -> list[Product]:
    """The products of :data:`PRODUCTS` in order, each with its SKUs and stock."""
    products: list[Product] = []
    for spec in PRODUCTS:
        skus: list[Sku] = []
        for color in spec.colors:
            for size, price in spec.sizes:
                stock = rng.randint(300, 999) if spec.custom_made else rng.randint(8, 260)
                code = f"{spec.code}-{len(skus) + 1:02d}"
                attributes = {spec.color_key: color, spec.size_key: size}
                skus.append(
                    Sku(
                        shop_id=shop_id,
                        code=code,
                        attributes=attributes,
                        price_fen=price,
                        stock=stock,
                    )
                )
        products.append(
            Product(
                shop_id=shop_id,
                code=spec.code,
                title=spec.title,
                category=spec.category,
                price_fen=min(s.price_fen for s in skus),
                description=spec.description,
                custom_made=spec.custom_made,
                active=True,
                created_at=base - timedelta(days=rng.randint(90, 700)),
                skus=skus,
            )
        )
    # A few ready-made SKUs sold out, a few at or under the safety stock.
    plain = [
        s
        for p, spec in zip(products, PRODUCTS, strict=True)
        if not spec.custom_made
        for s in p.skus
    ]
    for n, index in enumerate(rng.sample(range(len(plain)), 9)):
        plain[index].stock = 0 if n < 4 else rng.randint(1, 3)
    return products


def build_promotions(shop_id: int, base: datetime) -> list[Promotion]:
    """The promotions of :data:`PROMOTIONS`, running from before ``base`` to after it."""
    today = base.astimezone(_TZ).date()
    return [
        Promotion(
            shop_id=shop_id,
            kind=PromotionKind(kind).value,
            name=name,
            description=text,
            threshold_fen=threshold,
            discount_fen=discount,
            starts_at=local_time(today - timedelta(days=since), 0),
            ends_at=local_time(today + timedelta(days=left), 23, 59, 59),
        )
        for kind, name, text, threshold, discount, since, left in PROMOTIONS
    ]


@dataclass
class Buyer:
    """A customer's row (column values, for a bulk insert) and what orders need beside it."""

    row: dict[str, Any]
    province: str
    address: str
    weight: int  # how often this buyer orders, relative to the others


def build_customers(rng: random.Random, shop_id: int, base: datetime, count: int) -> list[Buyer]:
    """``count`` buyers on the shop's Taobao channel, unique nicks and phones."""
    nicks: set[str] = set()
    phones: set[str] = set()
    buyers: list[Buyer] = []
    for _ in range(count):
        buyer_nick = unique(nicks, lambda: nick(rng))
        buyer_phone = unique(phones, lambda: phone(rng))
        female = rng.random() < 0.68
        name = person_name(rng, female)
        gender = ("female" if female else "male") if rng.random() < 0.75 else ""
        birthday = None
        if rng.random() < 0.45:
            birthday = date(rng.randint(1965, 2004), rng.randint(1, 12), rng.randint(1, 28))
        # About one birthday in four is kept on the lunar calendar, as many buyers do.
        lunar = birthday is not None and rng.random() < 0.25
        province, city, full_address = address(rng)
        row = {
            "shop_id": shop_id,
            "channel": Platform.taobao.value,
            "buyer_id": buyer_nick,
            "nick": buyer_nick,
            "name": name,
            "phone": buyer_phone,
            "city": city.removesuffix("市"),
            "gender": gender,
            "birth_year": birthday.year if birthday else None,
            "birth_month": birthday.month if birthday else None,
            "birth_day": birthday.day if birthday else None,
            "birth_lunar": lunar,
            "tags": [],
            "created_at": base - timedelta(seconds=rng.randint(61 * 86400, 1500 * 86400)),
        }
        weight = rng.choice((1, 1, 1, 1, 2, 2, 3, 4, 6, 10))
        buyers.append(Buyer(row, province, full_address, weight))
    return buyers


# Shop-wide quick phrases: (group, shortcut, text); variables are filled when used.
PHRASES: tuple[tuple[str, str, str], ...] = (
    ("问候", "hi", "亲，您好！我是{shop}的客服{agent}，请问有什么可以帮您？"),
    ("问候", "wait", "亲，稍等一下哦，我帮您查一下库存马上回复您～"),
    (
        "尺寸",
        "cc",
        "亲，窗帘宽度一般按窗户宽度的 1.5～2 倍来定，褶皱会更好看；高度量到想要垂到的位置就好。",
    ),
    ("物流", "kd", "亲，咱们默认发{courier}，现货 16 点前付款当天发出，定制款 3～7 天做好后发货。"),
    ("活动", "hd", "亲，店里现在的活动是：{activity}，下单时会自动算好优惠哦。"),
    ("售后", "th", "亲，收到货有任何不满意都可以联系我们，七天内未使用的现货支持无理由退换。"),
    ("结束", "bye", "感谢亲的光临，有问题随时找{agent}，祝您生活愉快！"),
)


# --- Chats (see ``xiaoer.demo``): what buyers ask and how the agents answer -----------
# A pair is (the buyer's question, the agent's answer); a chat strings a few together.
# Variables: {agent} is the answering agent's name.

Pair = tuple[str, str]

CHAT_OPENERS: tuple[str, ...] = ("在吗？", "你好", "亲，在吗", "有人吗", "你好，想问一下")
CHAT_GREETINGS: tuple[str, ...] = (
    "亲，在的，请问有什么可以帮您？",
    "您好，我是客服{agent}，请问想看哪一款呢？",
    "在的亲，您说～",
)
# Questions any presale buyer may ask, whatever the product.
CHAT_GENERAL: tuple[Pair, ...] = (
    ("有现货吗？", "亲，这款现货充足，16点前付款当天就能发出哦～"),
    (
        "今天拍什么时候能发货？",
        "亲，现货16点前付款当天发；定做的要3到7天做好再发，做好了我第一时间告诉您～",
    ),
    ("能便宜一点吗？", "亲，价格已经很实在了，我给您备注送一份小礼品，您看可以吗？"),
    ("发什么快递？", "亲，默认发顺丰，大件的地毯和长杆走德邦物流～"),
    ("包邮吗？", "亲，满99元包邮，偏远地区要补一点运费，下单页面会显示～"),
    ("有没有实拍图？", "亲，详情页最后几张就是买家实拍，自然光下拍的，颜色比较准～"),
    ("颜色有色差吗？", "亲，图片都是实物拍的，不同手机屏幕会有一点点差别，整体是一致的～"),
)
# Questions about one kind of goods, by the catalogue's category.
CHAT_TOPICS: dict[str, tuple[Pair, ...]] = {
    "窗帘": (
        ("这款遮光效果怎么样？", "亲，这款用的是遮光布，拉上以后白天也很暗，午睡没问题～"),
        (
            "窗户宽2米8，买多宽的合适？",
            "亲，一般做窗户宽度的1.5到2倍褶皱才好看，2米8的窗户做4米5到5米5都合适～",
        ),
        (
            "高度怎么量？",
            "亲，装在顶上就从轨道量到离地1到2厘米；装在墙上就量到窗台下面15厘米左右～",
        ),
        ("挂钩是配好的吗？", "亲，挂钩都配好了，收到就能挂，不用另外买～"),
        ("洗了会不会缩水？", "亲，冷水轻柔洗就好，缩水在2%以内，做的时候已经留好余量了～"),
        (
            "打孔款和挂钩款哪个好？",
            "亲，打孔款配罗马杆，褶子整齐；挂钩款配轨道，拉起来更顺，看您家装的是杆还是轨道～",
        ),
        ("定做的多久能做好？", "亲，定做款3到7天做好，做好当天就发顺丰，我会提前跟您说～"),
    ),
    "纱帘": (
        (
            "纱帘透不透？晚上外面能看到吗？",
            "亲，这款白天透光不透人，晚上开灯的话建议再配一层遮光布哦～",
        ),
        ("纱帘能机洗吗？", "亲，装进洗衣袋轻柔洗就行，挂起来晾干，不用熨～"),
        ("飘窗用的话要多高？", "亲，飘窗量到台面上方1厘米就行，您把宽高发我，我帮您算～"),
    ),
    "百叶帘": (
        ("免打孔的能装牢吗？", "亲，免打孔是用撑杆顶在窗框里，窗框有3厘米深就很稳～"),
        ("卫生间能用吗？", "亲，铝合金的不怕潮，卫生间和厨房都能用，擦一擦就干净～"),
        ("按平方怎么算？", "亲，按宽乘高算，不足1平方按1平方算，您发下尺寸我帮您报价～"),
    ),
    "卷帘": (
        ("卷帘要打孔吗？", "亲，这款免打孔，顶在窗框里就行，几分钟就装好～"),
        ("拉珠会不会断？", "亲，用的是加粗拉珠，正常用好几年没问题，坏了我们包换～"),
        ("防水那款浴室能用吗？", "亲，PVC面料不吸水，溅到水擦一下就好，浴室很合适～"),
    ),
    "罗马杆": (
        ("罗马杆最长能做多长？", "亲，单根最长3米6，再长要加中间支架，我们会配好～"),
        ("安装配件有吗？", "亲，支架、螺丝和膨胀管都配齐了，装墙上装顶上都可以～"),
        ("双杆能一层布一层纱吗？", "亲，可以的，双杆就是挂布纱两层的，前面布后面纱～"),
    ),
    "轨道": (
        ("轨道拉起来响吗？", "亲，滑轮是静音的，拉起来很轻，晚上也不吵～"),
        ("弯轨能做L型飘窗吗？", "亲，可以的，您量好两边的长度发我，我们按角度弯好再发～"),
        ("电动轨道要布线吗？", "亲，电机插旁边的插座就行，手机和遥控都能开关，记得留个插座～"),
    ),
    "抱枕": (
        ("抱枕含芯吗？", "亲，这款含芯，PP棉的，回弹好，不会一压就扁～"),
        ("套子能拆洗吗？", "亲，侧边是隐形拉链，套子拆下来就能洗～"),
        ("45的和50的哪个好看？", "亲，沙发深的话选50的更饱满，小沙发45的刚好～"),
    ),
    "桌布": (
        ("桌布能机洗吗？", "亲，棉麻的可以机洗，PVC的不用洗，湿布擦一下就干净～"),
        ("桌子1米2乘70买哪个尺寸？", "亲，每边垂下10到15厘米好看，选140乘100的刚好～"),
        ("有味道吗？", "亲，刚拆开可能有一点包装的味道，晾一两天就散了～"),
    ),
    "地毯": (
        ("地毯掉毛吗？", "亲，短绒的基本不掉毛，刚开始用吸尘器吸几次浮毛就好～"),
        ("能机洗吗？", "亲，床边毯可以机洗，客厅的大地毯建议局部擦洗或者送洗～"),
        ("门垫可以剪吗？", "亲，背面是胶底，按门口的尺寸直接剪，不会散边～"),
    ),
    "配件": (
        ("挂钩一包多少个？", "亲，一包20个，一米宽的窗帘大概用8到10个～"),
        ("绑带是磁吸的吗？", "亲，是磁吸的，不用打孔，搭一下就吸住了～"),
    ),
}
# How a chat ends: the buyer orders, leaves to think, or is helped after the sale.
CHAT_BUY: tuple[Pair, ...] = (
    ("好的，那我拍了", "好的亲，付款后我给您备注好，尽快安排发货～"),
    ("行，我下单了", "感谢亲的支持，发货了我跟您说～"),
    ("好，现在就拍", "收到亲，我会盯着发货进度的，有问题随时找{agent}～"),
)
CHAT_LEAVE: tuple[Pair, ...] = (
    ("好的，我再考虑一下", "好的亲，有需要随时找我哦～"),
    ("我量好尺寸再来问你", "不客气，量好了发我，我帮您算用料～"),
    ("先收藏了，谢谢", "好的亲，想好了随时来找我～"),
    ("我跟家里人商量一下", "好的，商量好了直接找{agent}就行～"),
)
CHAT_AFTERSALE: tuple[Pair, ...] = (
    ("我的快递到哪了？", "亲，帮您查了一下，包裹已经在派送的路上了，今天就能送到～"),
    ("发票怎么开？", "亲，在订单里点申请开票，填好抬头和税号，三个工作日内发到您邮箱～"),
    (
        "收到的窗帘折痕好重",
        "亲，运输时折叠会有折痕，挂起来一两天会慢慢垂顺，也可以用挂烫机低温熨一下～",
    ),
    ("挂钩少了几个", "非常抱歉亲，我马上给您补寄一包挂钩，发出后把单号发您～"),
    ("尺寸好像做短了", "亲，麻烦量一下实际高度拍照发我，是我们做错的话免费给您重做～"),
    ("不想要了能退吗？", "亲，七天内没用过的现货都能退，您在订单里申请，我这边马上同意～"),
    ("安装师傅什么时候来？", "亲，师傅会提前一天打电话约时间，一般两三天内上门～"),
    ("颜色跟图片不太一样", "亲，能拍一张自然光下的照片给我看看吗？差别大的话给您换～"),
)
CHAT_THANKS: tuple[Pair, ...] = (
    ("好的，谢谢", "不客气亲，祝您生活愉快～"),
    ("行，那我等等", "好的亲，有进展我第一时间告诉您～"),
    ("知道了，麻烦了", "应该的，有问题随时找我～"),
)


def chat_script(
    rng: random.Random, kind: str, category: str, agent: str
) -> list[tuple[list[str], list[str]]]:
    """The turns of one chat: each the buyer's run of messages and the agent's answers.

    ``kind`` is ``buy`` (the buyer orders), ``ask`` (the buyer leaves to think) or
    ``after`` (a question about an order). Every turn has an answer; the caller
    drops the last ones for chats left unanswered.
    """
    turns: list[tuple[list[str], list[str]]] = []
    if kind != "after" and rng.random() < 0.45:
        turns.append(([rng.choice(CHAT_OPENERS)], [rng.choice(CHAT_GREETINGS)]))
    if kind == "after":
        pool = list(CHAT_AFTERSALE)
        asked = rng.sample(pool, rng.choice((1, 1, 2)))
        last = rng.choice(CHAT_THANKS)
    else:
        pool = list(CHAT_TOPICS.get(category, ())) + list(CHAT_GENERAL)
        asked = rng.sample(pool, rng.choice((1, 2, 2, 3)))
        last = rng.choice(CHAT_BUY if kind == "buy" else CHAT_LEAVE)
    if len(asked) >= 2 and rng.random() < 0.25:  # two questions in one go
        (q1, a1), (q2, a2) = asked[:2]
        turns.append(([q1, q2], [a1, a2]))
        asked = asked[2:]
    turns.extend(([question], [answer]) for question, answer in asked)
    turns.append(([last[0]], [last[1]]))
    return [(asks, [text.replace("{agent}", agent) for text in answers]) for asks, answers in turns]
