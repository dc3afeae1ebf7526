"""The carriers' codes and the names sellers and aggregators write for them (DOMAIN.md)."""

from __future__ import annotations

# The carriers by code, and the names sellers and aggregators write for them.
CARRIER_NAMES: dict[str, tuple[str, ...]] = {
    "SF": ("顺丰速运", "顺丰", "顺丰快递", "shunfeng"),
    "YTO": ("圆通速递", "圆通", "圆通快递", "yuantong"),
    "ZTO": ("中通快递", "中通", "zhongtong"),
    "STO": ("申通快递", "申通", "shentong"),
    "YUNDA": ("韵达快递", "韵达", "韵达速递", "yunda"),
    "EMS": ("EMS", "中国邮政EMS", "邮政EMS", "ems"),
    "POSTB": ("邮政快递包裹", "邮政", "中国邮政", "邮政包裹", "youzhengguonei"),
    "JD": ("京东物流", "京东", "京东快递", "jd"),
    "JTSD": ("极兔速递", "极兔", "极兔快递", "J&T", "jtexpress"),
    "DBL": ("德邦快递", "德邦", "德邦物流", "debangkuaidi"),
}


def carrier_code(text: str) -> str | None:
    """The carrier's code from its code or a name sellers write; None when unknown."""
    wanted = text.strip()
    if not wanted:
        return None
    if wanted.upper() in CARRIER_NAMES:
        return wanted.upper()
    folded = wanted.casefold()
    for code, names in CARRIER_NAMES.items():
        if any(folded == name.casefold() for name in names):
            return code
    return None


def carrier_name(code: str) -> str:
    names = CARRIER_NAMES.get(code)
    return names[0] if names else code
