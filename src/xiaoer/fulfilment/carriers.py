"""The carriers a shop ships with: their codes, the names sellers write, and the shape
of their waybill numbers.

A seller writes a carrier as the platform's code (``SF``, ``yto``) or by one of its
names (顺丰速运, 顺丰, 顺丰快递); :func:`find_carrier` knows them all, in any case and
with spaces around. A waybill that does not have its carrier's shape goes back to a
person with the shape it should have (:func:`check_waybill`), never silently through.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from xiaoer.core.texts import Text, say


class WaybillError(ValueError):
    """A carrier nobody knows, or a number its carrier never gives out."""


@dataclass(frozen=True)
class Carrier:
    code: str  # the platform's code: SF, YTO …
    name: str  # as the platform shows it: 顺丰速运
    aliases: tuple[str, ...]  # other names sellers write
    patterns: tuple[re.Pattern[str], ...]  # a waybill matches one of them whole
    shape: Text  # the patterns in words, for a refusal

    def fits(self, number: str) -> bool:
        return any(pattern.fullmatch(number) for pattern in self.patterns)


def _carrier(
    code: str, name: str, aliases: tuple[str, ...], patterns: tuple[str, ...], shape: Text
) -> Carrier:
    return Carrier(code, name, aliases, tuple(re.compile(p) for p in patterns), shape)


CARRIERS: tuple[Carrier, ...] = (
    _carrier("SF", "顺丰速运", ("顺丰", "顺丰快递", "shunfeng"), (r"SF\d{12,13}", r"\d{12}"),
             say("SF followed by 12–13 digits, or 12 digits")),
    _carrier("YTO", "圆通速递", ("圆通", "圆通快递", "yuantong"), (r"YT\d{13,16}", r"\d{10,12}"),
             say("YT followed by 13–16 digits, or 10–12 digits")),
    _carrier("ZTO", "中通快递", ("中通", "zhongtong"), (r"\d{12,15}",), say("12–15 digits")),
    _carrier("STO", "申通快递", ("申通", "shentong"), (r"\d{12,15}",), say("12–15 digits")),
    _carrier("YUNDA", "韵达快递", ("韵达", "韵达速递", "yunda"), (r"\d{13,15}",),
             say("13–15 digits")),
    _carrier("EMS", "EMS", ("中国邮政EMS", "邮政EMS"), (r"1\d{12}", r"[A-Z]{2}\d{9}[A-Z]{2}"),
             say("13 digits starting with 1, or 2 letters, 9 digits and 2 letters")),
    _carrier("POSTB", "邮政快递包裹", ("邮政", "中国邮政", "邮政包裹", "youzhengguonei"),
             (r"9\d{12}",),
             say("13 digits starting with 9")),
    _carrier("JD", "京东物流", ("京东", "京东快递"), (r"JD[A-Z0-9]{13,15}",),
             say("JD followed by 13–15 letters or digits")),
    _carrier("JTSD", "极兔速递", ("极兔", "极兔快递", "J&T", "J&T Express", "jtexpress"),
             (r"JT\d{13}",),
             say("JT followed by 13 digits")),
    _carrier("DBL", "德邦快递", ("德邦", "德邦物流", "debangkuaidi"), (r"\d{8,12}", r"DPK\d{12}"),
             say("8–12 digits, or DPK followed by 12 digits")),
)  # fmt: skip


def _key(text: str) -> str:
    return "".join(text.split()).casefold()


_BY_KEY: dict[str, Carrier] = {
    _key(written): carrier
    for carrier in CARRIERS
    for written in (carrier.code, carrier.name, *carrier.aliases)
}
BY_CODE: dict[str, Carrier] = {carrier.code: carrier for carrier in CARRIERS}
# Every name of two characters or more, for names found inside a longer text.
_NAMES: tuple[tuple[str, str], ...] = tuple(
    (key, carrier.code) for key, carrier in _BY_KEY.items() if len(key) >= 2
)


def find_carrier(text: str) -> Carrier | None:
    """The carrier ``text`` names (its code or a name, any case, spaces ignored)."""
    return _BY_KEY.get(_key(text))


def carrier_code(text: str) -> str | None:
    """The code of the carrier ``text`` names; failing an exact name, of the carrier
    whose name it contains (a seller's "顺丰（加急）"). None when it names none."""
    carrier = find_carrier(text)
    if carrier is not None:
        return carrier.code
    key = _key(text)
    if not key:
        return None
    contained = [(len(name), code) for name, code in _NAMES if name in key]
    return max(contained)[1] if contained else None


def carrier_name(code: str) -> str:
    """The name the platform writes for a carrier's code (the code when unknown)."""
    carrier = BY_CODE.get(code)
    return carrier.name if carrier is not None else code


def carrier_codes() -> list[str]:
    return [carrier.code for carrier in CARRIERS]


def carrier_named(text: str) -> Carrier:
    """The carrier ``text`` names, or :class:`WaybillError` saying it is unknown."""
    carrier = find_carrier(text)
    if carrier is None:
        if not text.strip():
            raise WaybillError(say("the carrier is missing"))
        raise WaybillError(say('"{carrier}" is not a carrier we know', carrier=text.strip()[:40]))
    return carrier


def clean_waybill(number: str) -> str:
    """A waybill as carriers print it: without spaces, letters in capitals."""
    return "".join(number.split()).upper()


def check_waybill(carrier: Carrier, number: str) -> str:
    """The waybill, cleaned (:func:`clean_waybill`), when it fits ``carrier``; else
    :class:`WaybillError` naming the shape it should have."""
    cleaned = clean_waybill(number)
    if not cleaned:
        raise WaybillError(say("the waybill number is missing"))
    if not carrier.fits(cleaned):
        raise WaybillError(
            say(
                "{number} is not a {carrier} waybill: they are {shape}",
                number=cleaned[:40],
                carrier=carrier.name,
                shape=carrier.shape,
            )
        )
    return cleaned
