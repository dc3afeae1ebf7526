"""Imports every table so that metadata (and Alembic) sees the whole schema."""

from xiaoer.aftersales import models as aftersales_models
from xiaoer.assistant import models as assistant_models
from xiaoer.buyers import models as buyer_models
from xiaoer.catalog import models as catalog_models
from xiaoer.core import models as core_models
from xiaoer.customers import models as customer_models
from xiaoer.fulfilment import models as fulfilment_models
from xiaoer.mail import models as mail_models
from xiaoer.orders import models as order_models
from xiaoer.peakday import activity_models as peakday_activity_models
from xiaoer.peakday import models as peakday_models
from xiaoer.peakday import rehearsal_models
from xiaoer.peakday import target_models as peakday_target_models
from xiaoer.performance import models as performance_models
from xiaoer.reception import models as reception_models
from xiaoer.sellercentre import models as sellercentre_models
from xiaoer.shops import models as shop_models
from xiaoer.staff import models as staff_models

__all__ = [
    "aftersales_models",
    "assistant_models",
    "buyer_models",
    "catalog_models",
    "core_models",
    "customer_models",
    "fulfilment_models",
    "mail_models",
    "order_models",
    "peakday_activity_models",
    "peakday_models",
    "peakday_target_models",
    "performance_models",
    "reception_models",
    "rehearsal_models",
    "sellercentre_models",
    "shop_models",
    "staff_models",
]
