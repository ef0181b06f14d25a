"""Chat: follow-ups become stand-alone questions; sessions stay bounded in number, length and time."""

from __future__ import annotations

import threading
import time

import pytest

from qa.answer.chat import SessionStore, Turn, resolve_followup


def test_question_without_history_is_unchanged():
    assert resolve_followup("魏都区委书记是谁？", []) == "魏都区委书记是谁？"


def test_standalone_question_after_history_is_unchanged():
    assert resolve_followup("许昌市长是谁？", ["魏都区委书记是谁？"]) == "许昌市长是谁？"


def test_qizhong_followup_carries_the_previous_topic():
    resolved = resolve_followup("其中国有企业增长了多少？", ["今年前8个月全市规模以上工业增加值增长了多少？"])
    assert "工业增加值" in resolved and "国有企业" in resolved and "多少" in resolved


def test_ta_followup_carries_the_previous_subject():
    resolved = resolve_followup("它落户在哪个县？", ["振德集团华中区域总部建设项目总投资多少？"])
    assert "振德集团" in resolved and "哪个县" in resolved and "它" not in resolved


def test_na_place_ne_swaps_the_place_and_keeps_the_ask():
    resolved = resolve_followup("那禹州市呢？", ["10月份数字化城市管理考评中长葛市得了多少分？"])
    assert resolved == "10月份数字化城市管理考评中禹州市得了多少分？"


def test_ne_followup_swaps_an_unknown_term_by_its_ending():
    resolved = resolve_followup("酒驾呢？", ["今年以来许昌市区查处了多少起醉驾？"])
    assert resolved == "今年以来许昌市区查处了多少起酒驾？"


def test_na_qunian_ne_swaps_the_year():
    resolved = resolve_followup("那去年呢？", ["2019年许昌谋划新建多少个规范化社区？"])
    assert resolved == "去年许昌谋划新建多少个规范化社区？"


def test_followup_resolves_against_the_latest_turn():
    history = [Turn("魏都区委书记是谁？", "魏都区委书记是谁？"), Turn("许昌市长是谁？", "许昌市长是谁？")]
    assert "许昌" in resolve_followup("那去年呢？", history)


def test_store_keeps_turns_in_order():
    store = SessionStore()
    store.append("s", Turn("a", "a"))
    store.append("s", Turn("b", "b"))
    assert [t.question for t in store.history("s")] == ["a", "b"]


def test_store_keeps_only_the_last_max_turns():
    store = SessionStore(max_turns=2)
    for q in "abc":
        store.append("s", Turn(q, q))
    assert [t.question for t in store.history("s")] == ["b", "c"]


def test_store_evicts_the_least_recently_used_session():
    store = SessionStore(max_sessions=2)
    store.append("one", Turn("a", "a"))
    store.append("two", Turn("a", "a"))
    store.append("one", Turn("b", "b"))
    store.append("three", Turn("a", "a"))
    assert "two" not in store and "one" in store and len(store) == 2


def test_store_forgets_idle_sessions():
    store = SessionStore(ttl_s=0.05)
    store.append("s", Turn("a", "a"))
    time.sleep(0.1)
    assert store.history("s") == [] and len(store) == 0


def test_unknown_session_has_empty_history():
    assert SessionStore().history("nope") == []


def test_store_rejects_non_positive_bounds():
    with pytest.raises(ValueError):
        SessionStore(max_sessions=0)


def test_store_is_safe_under_concurrent_appends():
    store = SessionStore(max_sessions=50, max_turns=5)

    def work(n: int) -> None:
        for i in range(200):
            store.append(f"s{(n * 7 + i) % 80}", Turn(str(i), str(i)))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store) <= 50
    assert all(len(store.history(f"s{i}")) <= 5 for i in range(80))


@pytest.mark.parametrize(
    ("previous", "follow_up", "resolved"),
    [
        ("市公安局创文指挥部的指挥长是谁？", "那指挥部的政委呢？", "市公安局创文指挥部的政委是谁？"),
        ("市公安局创文指挥部的指挥长是谁？", "那政委呢？", "市公安局创文指挥部的政委是谁？"),
        ("市区查处的醉驾有多少起？", "那酒驾呢？", "市区查处的酒驾有多少起？"),
    ],
)
def test_a_follow_up_naming_another_role_or_attribute_replaces_the_asked_one(previous, follow_up, resolved):
    assert resolve_followup(follow_up, [previous]) == resolved


def test_a_follow_up_naming_a_wider_role_replaces_the_asked_one_not_a_context_word():
    resolved = resolve_followup("那副指挥长呢？", ["市公安局创文指挥部的指挥长是谁？"])
    assert "副指挥长" in resolved and "指挥部" in resolved and "的指挥长" not in resolved
