"""The replies a new shop starts with, in our own words; the manager edits them."""

from __future__ import annotations

from xiaoer.reception.models import AutoReplyKind

# (kind, keywords, text). Variables: {shop} {agent} {activity} {courier} {cutoff} {position}
DEFAULT_AUTO_REPLIES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    (
        AutoReplyKind.welcome.value,
        (),
        "亲，欢迎光临{shop}！我是客服{agent}，很高兴为您服务。"
        "店里正在进行：{activity}。默认发{courier}，{cutoff}前付款当天发出，"
        "有什么想了解的尽管问我哦～",
    ),
    (
        AutoReplyKind.busy.value,
        (),
        "亲，现在咨询的朋友比较多，您排在第 {position} 位，客服会按顺序尽快回复您，请稍等一下哦。",
    ),
    (
        AutoReplyKind.offline.value,
        (),
        "亲，欢迎光临{shop}！客服现在不在线，您的留言我们都收到了，上班后会第一时间回复您。"
        "着急的话可以直接下单，我们会按顺序安排发货。",
    ),
    (
        AutoReplyKind.keyword.value,
        ("发什么快递", "什么快递", "哪家快递"),
        "亲，咱们家默认发{courier}，{cutoff}前付款当天发出；如需其他快递请留言说明，"
        "差价由客服为您核算～",
    ),
    (
        AutoReplyKind.keyword.value,
        ("包邮",),
        "亲，现在店里的活动是：{activity}。偏远地区的运费以下单页面为准哦。",
    ),
)

NO_ACTIVITY = "暂无活动"
NO_AGENT = "小二"
