"""The text-log reader's header times (客服8号 2026-11-03 14:00 / 客户 14:00:05): a step back in time is a message out
of order, refused as a table's rows out of order are (tests/test_ingest_table.py), but where times of day alone pass
midnight. The midnight of times of day alone and of full dates is also in tests/test_ingest.py
(test_text_log_headers_with_times_and_metadata)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from conftest import read_by_id, starts

from zuoxi.model import Conversation

ORDER = "：消息没有按时间先后排列，整个会话都没有导入；请按时间排好再导入"


def read(path: Path, text: str) -> tuple[dict[str, Conversation], list[str]]:
    path.write_text(text, encoding="utf-8")
    return read_by_id(path)


def test_a_step_back_with_full_dates_refuses_the_conversation_at_that_line(tmp_path):
    """14:05, then 14:00 of the same day, was a reply 23 h 55 min later: a day was added to any step back."""
    path = tmp_path / "dated.txt"
    conversations, errors = read(
        path,
        "# id: d-1\n客户 2026-11-03 14:05:00\n在吗\n客服 2026-11-03 14:00:00\n在的\n---\n"
        "# id: d-2\n客户 2026-11-03 23:59:50\n在吗\n客服 2026-11-04 00:00:05\n在的\n",
    )
    assert list(conversations) == ["d-2"] and starts(conversations["d-2"]) == [0, 15]
    assert errors == [
        f"{path}:4: 会话 'd-1'：时间 '2026-11-03 14:00:00' 早于这个会话上一条消息（第 2 行）的 '2026-11-03 14:05:00'"
        + ORDER
    ]


def test_times_of_day_alone_pass_midnight_only_going_back_more_than_12_hours(tmp_path):
    path = tmp_path / "clock.txt"
    conversations, errors = read(
        path,
        "# id: n-1\n坐席35号 23:59:58\n您好\n客户 00:00:03\n你好\n"
        "---\n# id: n-2\n客服 10:00\n您好\n客户 23:00\n在吗\n客服 09:00\n在的\n客户 22:00\n好\n"  # two midnights
        "---\n# id: n-3\n客户 14:00:10\n在吗\n客服 14:00:05\n在的\n"  # 5 s back: out of order
        "---\n# id: n-4\n客户 20:00\n在吗\n客服 08:00\n在的\n",  # 12 hours back exactly: not past midnight
    )
    assert list(conversations) == ["n-1", "n-2"]
    assert starts(conversations["n-1"]) == [0, 5]
    assert starts(conversations["n-2"]) == [0, 13 * 3600, 23 * 3600, 36 * 3600]
    alone = "（只有时刻的，倒退超过 12 小时才算过了午夜）"
    assert errors == [
        f"{path}:20: 会话 'n-3'：时间 '14:00:05' 早于这个会话上一条消息（第 18 行）的 '14:00:10'" + alone + ORDER,
        f"{path}:26: 会话 'n-4'：时间 '08:00' 早于这个会话上一条消息（第 24 行）的 '20:00'" + alone + ORDER,
    ]


def test_times_of_day_alone_after_a_declared_start_still_pass_midnight(tmp_path):
    path = tmp_path / "declared.txt"
    conversations, errors = read(
        path, "# id: s-1\n# started_at: 2026-11-03T23:59:00\n客户 23:59:58\n在吗\n客服 00:00:03\n在的\n"
    )
    assert errors == [] and conversations["s-1"].started_at == datetime(2026, 11, 3, 23, 59)
    assert starts(conversations["s-1"]) == [58, 63]


def test_dated_and_undated_times_in_one_conversation_are_refused(tmp_path):
    """A time of day was read on 1900-01-01 beside a full date: a turn 126 years back, a day added."""
    path = tmp_path / "mixed.txt"
    conversations, errors = read(path, "# id: x-1\n客户 2026-11-03 14:00\n在吗\n客服 14:01\n在的\n")
    assert conversations == {} and errors == [
        f"{path}:4: 会话 'x-1'：时间 '14:01'（只有时刻）与这个会话第一个时间 '2026-11-03 14:00'（日期加时刻）写法不同："
        "一个会话的时间要写成同一种，整个会话都没有导入"
    ]


def test_words_of_a_message_after_a_role_word_are_no_speaker(tmp_path):
    """The role lines chat tools write (客户 张三：…) also matched a message's own words: 客户 须知：…, 客户 说：…
    became the customer's turn (review 2026-12-07)."""
    conversations, errors = read(
        tmp_path / "words.txt", "客服：您好，退货规则如下\n客户 须知：7天内可退\n客户 说：不行\n"
    )
    assert errors == [] and [t.text for t in conversations["words-1"].turns] == [
        "您好，退货规则如下\n客户 须知：7天内可退\n客户 说：不行"
    ]
    conversations, errors = read(tmp_path / "named.txt", "客户 张三：我要投诉\n客服 小王：您好\n")
    assert errors == [] and [t.role for t in conversations["named-1"].turns] == ["customer", "agent"]


def test_a_messages_own_headings_repeated_are_no_third_speaker(tmp_path):
    """An agent's pasted Q&A (问：…/答：… twice) or steps (第一步：… twice) cost the whole conversation as a third
    speaker's lines (review 2026-12-07); 路人甲 still does."""
    text = "客服：常见问题如下\n问：怎么退货\n答：7天内\n问：运费谁出\n答：我们出\n第一步：打开\n第一步：再打开\n客户：好的\n"
    conversations, errors = read(tmp_path / "faq.txt", text)
    assert errors == [] and [t.role for t in conversations["faq-1"].turns] == ["agent", "customer"]
    _, errors = read(tmp_path / "third.txt", "客服：您好\n路人甲：我们要投诉\n客户：对\n路人甲：快点\n")
    assert len(errors) == 3 and "认不出说话人 '路人甲'" in errors[0]


def test_times_on_some_messages_only_are_said(tmp_path):
    """Where only some role lines carry a time, every turn was stored without one, in silence (review 2026-12-07)."""
    text = "[2026-11-03 14:00:01] 客服: 您好\n客户: 我要投诉\n[2026-11-03 14:00:09] 客服: 抱歉\n"
    conversations, errors = read(tmp_path / "some.txt", text)
    assert starts(conversations["some-1"]) == [None, None, None]
    assert errors == [
        f"{tmp_path / 'some.txt'}:2: 会话 'some-1'：有的消息带时间、这一句没有：各句都按没有时间导入（回复时长等规则不判）"
    ]
