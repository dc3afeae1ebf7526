"""Assistant (A): understanding what the buyer asks and suggesting answers."""

from xiaoer.assistant.normalize import (
    ECOMMERCE_TERMS,
    PINYIN_ABBREVIATIONS,
    Normalized,
    ShopDictionary,
    analyse,
    normalize,
)

__all__ = [
    "ECOMMERCE_TERMS",
    "PINYIN_ABBREVIATIONS",
    "Normalized",
    "ShopDictionary",
    "analyse",
    "normalize",
]
