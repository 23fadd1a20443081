"""The simulated customer (issue 20): it reads the trainee as QA does (zuoxi/rules/reading.py), moves by
the dynamics table (dynamics.yaml, the table in docs/training.md) and answers from its own state and the
case's data. The scripted-trainee battery runs over every case: a good trainee resolves it, a broken
record escalates it, a polite-but-useless one does not resolve it, negated solutions are not accepted,
and the customer's lines are consistent with what was said."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from trainees import CASES, CLOSING, POLITE, STALLING, ask_for, drill, good_trainee, negatable, negating_lines

from zuoxi.analyze.models import ArtefactError
from zuoxi.coaching.simulator import DrillSession, dynamics, persona_lines
from zuoxi.model import Conversation, Turn
from zuoxi.pipeline import analyze_conversation
from zuoxi.rules import reading
from zuoxi.rules.reading import read_agent_turns
from zuoxi.rules.scorecard import load_spec

DOCS = Path(__file__).resolve().parent.parent / "docs" / "training.md"
IDS = sorted(CASES)
THANKS = re.compile(r"谢|辛苦|麻烦你了")
MANAGER = re.compile(r"投诉|领导|经理")
DIGITS = re.compile(r"\d+")


# --- the battery ------------------------------------------------------------------------------------


@pytest.mark.parametrize("case_id", IDS)
def test_a_good_trainee_resolves_every_case(case_id):
    case = CASES[case_id]
    session = drill(case, good_trainee(case))
    report = session.report()
    assert report.outcome == "accepted", (case_id, report.events)
    assert session.met == {p.key for p in case.resolution.parts}
    assert report.score >= 0.7 * report.max_score, (case_id, [f.rule for f in report.result.failed()])
    assert max(report.anger) <= report.anger[0] + 0.05  # a good trainee never makes the customer angrier


@pytest.mark.parametrize("case_id", IDS)
def test_a_broken_record_escalates_within_eight_lines(case_id):
    session = drill(CASES[case_id], [STALLING] * 8, closing=None)
    assert session.outcome == "escalated", (case_id, session.anger, session.events)
    assert session.agent_turns <= 8 and session.anger == sorted(session.anger)  # anger only rises
    assert any("repeated" in events for events in session.events)


@pytest.mark.parametrize("case_id", IDS)
def test_a_polite_but_useless_trainee_does_not_resolve(case_id):
    """Greetings, apologies and empathy only: the customer is calmed twice at most, then presses on."""
    session = drill(CASES[case_id], POLITE, closing=None)
    assert session.outcome in ("escalated", "gave_up"), (case_id, session.anger)
    assert not session.met
    lowest = session.anger.index(min(session.anger))
    assert lowest <= dynamics().wears_off_after and session.anger[lowest:] == sorted(session.anger[lowest:])


@pytest.mark.parametrize("case_id", IDS)
def test_negating_the_solution_is_not_accepted(case_id):
    """The need's words negated ("我们不会…"), refused in their clause ("…这个我们做不到"), supposed
    ("如果能…就好了") or quoted meet no part of the need."""
    case = CASES[case_id]
    lines = good_trainee(case)[: 1 + len(case.facts)] + negating_lines(case)
    session = drill(case, lines, closing=None)
    assert session.outcome not in ("accepted", "accepted_alternative"), (case_id, session.events)
    assert not set(negatable(case)) & session.met, (case_id, session.met)
    negated = session.events[len(lines) - 4 :]
    assert all(any(e.startswith("refuse") for e in events) for events in negated), negated  # a refusal of the need
    assert len(negatable(case)) >= len(case.resolution.parts) - 1  # at most one part worded only as a negation


def _lines_allowed(case):
    """Every line the customer may say: the opening, the case's own words, and the persona templates
    filled with the case's words for a part of the need."""
    pressing = [case.presses(p) for p in case.resolution.parts]
    templates = [
        t.format(unmet=u)
        for variants in persona_lines().values()
        for lines in variants.values()
        for t in lines
        for u in pressing
    ]
    return {case.first_customer_line(), *pressing, *[t.says for t in case.triggers if t.says], *templates}


def assert_consistent(session: DrillSession) -> None:
    """The customer's lines fit what was said: a fact only right after the line that drew it out and never
    twice, no digits it was not given, a trigger's line only after its words, no manager below the warning
    mark, no thanks after the warning without a change, nothing but the case's words and the templates."""
    case, table = session.case, dynamics()
    allowed = _lines_allowed(case)
    digits = set(DIGITS.findall(case.first_customer_line()))
    given: set[str] = set()
    warned = False
    for k, events in enumerate(session.events):
        line, anger, before = session.turns[2 * k + 2].text, session.anger[k + 1], session.anger[k]
        answered = [f for f in case.facts if f"fact:{f.key}" in events]
        assert all(f.key not in given for f in answered)
        for fact in case.facts:
            assert (fact.answer in line) == (fact in answered), (case.id, line, events)
        given |= {f.key for f in answered}
        digits |= {d for f in answered for d in DIGITS.findall(f.answer)}
        assert set(DIGITS.findall(line)) <= digits, (case.id, line)
        for trigger in case.triggers:
            if trigger.says and trigger.says in line:
                assert f"trigger:{trigger.key}" in events, (case.id, line, events)
        assert line in allowed or line == "".join(f.answer for f in answered), (case.id, line)
        if MANAGER.search(line) and line != case.first_customer_line():
            assert anger >= table.threaten_at, (case.id, line, anger)
        changed = anger < before or any(e.startswith(("need:", "fact:")) or e == "verified" for e in events)
        if warned and THANKS.search(line):
            assert changed, (case.id, line, events)
        warned = warned or "says:threaten" in events


def _ask_nobody_knows(case):
    return ["您好，请问您贵姓？", "请问您是哪里人？", "请问您今天天气怎么样？", *POLITE[:2], STALLING, "你听不懂吗？"]


@pytest.mark.parametrize("case_id", IDS)
def test_the_customers_lines_are_consistent_with_what_was_said(case_id):
    case = CASES[case_id]
    trainees = [
        good_trainee(case),
        [STALLING] * 8,
        POLITE,
        good_trainee(case)[: 1 + len(case.facts)] + negating_lines(case),
        _ask_nobody_knows(case),
        [ask_for(f) for f in case.facts] * 2 + ["你听不懂吗？"] * 3 + good_trainee(case),
    ]
    for lines in trainees:
        for seed in (0, 1, 2):
            assert_consistent(drill(case, lines, seed=seed, closing=None))


def test_the_recordings_lines_are_no_longer_replayed_out_of_context():
    """To a bare greeting the burger customer does not say 拒收 (nobody said it); asked when she needs it,
    the cooker customer answers that, not an order number."""
    burger = DrillSession(CASES["wrong-burger"])
    assert "拒收" not in burger.agent_says("您好").text
    assert "拒收" in burger.agent_says("如果餐品错了，送到时您拒收就行。").text  # now it was said
    cooker = DrillSession(CASES["late-delivery-cooker"])
    answer = cooker.agent_says("请问您这边什么时候要用呢？")
    assert answer.text == "后天周六家里来客人，就等着用它煮饭呢。" and not DIGITS.search(answer.text)


# --- the dynamics table -----------------------------------------------------------------------------


def test_the_documented_table_is_the_yaml():
    def anger(value):
        return "per case" if value is None else ("0" if value == 0 else f"{value:+.2f}")

    rows = [
        f"| `{name}` | {e.kind} | {anger(e.anger)} | {e.progress} | {'yes' if e.wears_off else ''} | {e.what} |"
        for name, e in dynamics().effects.items()
    ]
    text = DOCS.read_text(encoding="utf-8")
    head = "| reading | kind | anger | progress | wears off | what |\n| --- | --- | --- | --- | --- | --- |\n"
    assert head in text
    documented = text.split(head, 1)[1].split("\n\n", 1)[0].splitlines()
    assert documented == rows


def test_the_table_is_monotone_where_it_should_be():
    effects = dynamics().effects
    assert set(reading.reading_specs()) <= set(effects)  # every reading has a row
    rises = {name: e.anger for name, e in effects.items() if e.anger}
    assert max(rises, key=rises.get) == "rude"
    assert all(e.anger <= 0 for e in effects.values() if e.progress in ("part", "reveals"))  # progress never angers
    assert effects["ask"].anger == effects["ask_photo"].anger == 0  # asking never angers
    assert all(e.anger < 0 for e in effects.values() if e.wears_off) and dynamics().wears_off_after <= 2
    assert all(effects[name].anger > 0 for name in ("rude", "argue", "deflect", "refuse", "repeated", "no_progress"))


def _after(case, lines):
    session = DrillSession(case)
    for line in lines:
        session.agent_says(line)
    return session


PREFIXES = [[], [STALLING], [STALLING, "你听不懂吗？"], POLITE[:4]]


@pytest.mark.parametrize("case_id", IDS)
def test_asking_for_a_fact_never_raises_anger(case_id):
    """Whatever came before, a question that draws out a fact the customer holds lowers anger or keeps it."""
    case = CASES[case_id]
    for prefix in PREFIXES:
        for fact in case.facts:
            session = _after(case, prefix)
            if session.outcome:
                continue
            before = session.current_anger
            turn = session.agent_says(ask_for(fact))
            assert f"fact:{fact.key}" in turn.events and turn.anger <= before, (case_id, prefix, fact.key, turn.events)


@pytest.mark.parametrize("case_id", IDS)
def test_apologies_without_action_stop_calming(case_id):
    """Six different kind lines with no action calm at most the first two times; after that each raises
    anger (twelve apologies used to calm the cooker customer from 0.50 to 0.25)."""
    case = CASES[case_id]
    session = DrillSession(case)
    for line in POLITE[:6]:
        turn = session.agent_says(line)
        if turn.outcome:
            break
    falls = [k for k in range(1, len(session.anger)) if session.anger[k] < session.anger[k - 1]]
    assert all(k <= 2 for k in falls), (case_id, session.anger)
    assert session.anger[3:] == sorted(session.anger[3:]) and session.current_anger > min(session.anger)


@pytest.mark.parametrize("case_id", IDS)
def test_rudeness_raises_anger_most_and_a_reason_softens_a_refusal(case_id):
    case = CASES[case_id]

    def said(line):
        session = DrillSession(case)
        turn = session.agent_says(line)
        return session.current_anger - case.persona.anger, turn.events

    (rude, _), (bare, refused), (reasoned, explained) = (
        said("你听不懂吗？"),
        said("这个不行，办不了。"),
        said("这个办不了，因为系统规定如此，您可以换一种方式。"),
    )
    others = [said(line)[0] for line in ("请你冷静一点。", "这个你去找相关部门吧。", STALLING, "非常抱歉。")]
    assert rude > 0 and rude >= max(others, default=0) and rude >= bare
    assert "refuse" in refused and "refuse" not in explained and "reason" in explained
    assert bare > 0 and reasoned < bare


def test_a_less_patient_customer_angers_faster():
    case = CASES["wrong-burger"]
    rises = []
    for patience in (0.9, 0.5, 0.1):
        session = DrillSession(
            case.model_copy(update={"persona": case.persona.model_copy(update={"patience": patience})})
        )
        session.agent_says(STALLING)
        rises.append(session.current_anger - case.persona.anger)
    assert 0 < rises[0] < rises[1] < rises[2]


@pytest.mark.parametrize("case_id", IDS)
def test_met_parts_are_never_lost(case_id):
    """Progress toward the need only grows: a later refusal or insult does not take a met part back."""
    case = CASES[case_id]
    session = DrillSession(case)
    met = []
    for line in good_trainee(case)[:-1] + ["你听不懂吗？", "这个不行，办不了。"]:
        if session.outcome:
            break
        session.agent_says(line)
        met.append(set(session.met))
    assert all(a <= b for a, b in itertools.pairwise(met))


# --- the reading QA and practice share ----------------------------------------------------------------

LINES = [
    "您好，很高兴为您服务。",
    "你听不懂吗？我说了拒收就行。",
    "物流的事不归我们管，你去找快递吧。",
    "请你冷静一点，别激动。",
    "我马上帮您查一下。",
    "这个办不了。",
    "放心，保证明天到。",
    "非常抱歉给您添麻烦了。",
    "这件事由我们平台负责，不需要您再去找商家。",
]  # no deflection: the agent spares the customer the errand


def test_the_reading_is_the_rules_own_condition():
    """Where a rule reads an act, the reading is the rule's condition, and on a transcript they find the
    same turns: rude ⇔ EM-01, deflection ⇔ SA-03, arguing ⇔ EM-03, an over-promise ⇔ SA-05."""
    core = {i.id: i for s in load_spec("core")[0].sections for i in s.items}
    specs = reading.reading_specs()
    assert specs["rude"] == core["EM-01"].forbid and specs["refuse"] == core["SA-02"].when
    turns = [Turn(role="customer", text="你好，我的汉堡点错了，能帮我查一下吗？")]
    for line in LINES:
        turns += [Turn(role="agent", text=line), Turn(role="customer", text="嗯。")]
    conversation = Conversation(id="agree", channel="call", turns=turns)
    read = read_agent_turns(conversation)
    result = analyze_conversation(conversation, "core", mask=False)
    for act, rule in (("rude", "EM-01"), ("deflect", "SA-03"), ("argue", "EM-03"), ("guarantee", "SA-05")):
        finding = next(f for f in result.findings if f.rule == rule)
        flagged = {e.turn for e in finding.evidence} if finding.status == "fail" else set()
        assert flagged == {t for t, r in read.items() if act in r.acts}, (act, rule, flagged)
        assert flagged, act  # the lines above do each of them once


def _line(text: str) -> Conversation:
    """A conversation of one agent line (turn 1) after the customer's "喂？"."""
    return Conversation(
        id="line", channel="chat", turns=[Turn(role="customer", text="喂？"), Turn(role="agent", text=text)]
    )


ISSUE = {  # issue 20's examples: each accepted before as if it met the need
    "我们不会联系快递，也不会加急，你自己等着吧。": ["联系快递", "加急"],
    "这个系统查询不了，我也没法帮您查。": ["查询", "帮您查"],
    "卡号后四位我不能告诉你，95533也别打。": ["后四位", "95533"],
    "如果能给您补发就好了。": ["补发"],
    "您说的“退款”我们这边没有。": ["退款"],
}


@pytest.mark.parametrize("models", [True, False])
def test_negated_refused_supposed_and_quoted_words_are_not_said(models):
    for line, words in ISSUE.items():
        read = read_agent_turns(_line(line), {"solution": words}, models=models)[1]
        assert (read.said, read.denied) == (frozenset(), {"solution"}), line
    said = _line("我马上帮您联系快递加急，还要帮您查一下有没有送出。")
    assert read_agent_turns(said, {"solution": ["联系快递", "帮您查"]}, models=models)[1].said == {"solution"}
    itself = _line("我们不会向您索要密码，不激活是不会产生费用的。")
    assert read_agent_turns(itself, {"a": ["不会向您索要"], "b": ["不会产生费用"]}, models=models)[1].said == {"a", "b"}


def test_an_errand_or_a_question_back_is_not_the_agent_doing_it():
    """ "您联系快递吧" puts the action on the customer (the customer takes it as deflection); "您是想让我们…吗？"
    asks back what the customer wants (it confirms); "我来帮您联系快递" and "要不要我帮您查一下？" are the agent's."""
    lines = {
        "快递的事我们管不了，您联系快递吧。": "errands",
        "您可以自己联系快递。": "errands",
        "您是想让我们帮您联系快递吗？": "asked_back",
        "我来帮您联系快递。": "said",
        "要不要我帮您联系快递？": "said",
    }
    for line, kind in lines.items():
        read = read_agent_turns(_line(line), actions={"chase": ["联系快递"]})[1]
        assert getattr(read, kind) == {"chase"} and read.said | read.errands | read.asked_back == {"chase"}, (
            line,
            read,
        )
    cooker = DrillSession(CASES["late-delivery-cooker"])
    assert "deflect" in cooker.agent_says("快递的事我们管不了，您联系快递吧。").events and not cooker.met
    burger = DrillSession(CASES["wrong-burger"])
    assert "says:confirm" in burger.agent_says("您是想让我帮您查一下送出去没有吗？").events and not burger.met


def test_without_the_models_the_cue_words_decide(monkeypatch):
    def missing():
        raise ArtefactError("no artefacts here")

    monkeypatch.setattr(reading, "load_models", missing)
    conversation = Conversation(
        id="cues",
        channel="chat",
        turns=[
            Turn(role="customer", text="喂？"),
            Turn(role="agent", text="你听不懂吗？"),
            Turn(role="customer", text="什么？"),
            Turn(role="agent", text="非常抱歉，我马上帮您查一下。"),
        ],
    )
    read = read_agent_turns(conversation)
    assert "rude" in read[1].acts and {"apology", "act"} <= read[3].acts and "inform" not in read[3].acts
    for case in CASES.values():  # the battery holds on the cue words alone
        assert drill(case, good_trainee(case)).outcome == "accepted", case.id
        assert drill(case, [STALLING] * 8, closing=None).outcome == "escalated", case.id
        negated = drill(case, good_trainee(case)[: 1 + len(case.facts)] + negating_lines(case), closing=None)
        assert negated.outcome not in ("accepted", "accepted_alternative"), case.id
        assert not set(negatable(case)) & negated.met, case.id


def test_a_case_with_only_accept_words_still_loads_as_a_need_in_one_part():
    case = CASES["wrong-burger"].model_copy()
    data = case.model_dump()
    data["resolution"] = {"accept": ["帮您查"]}
    loaded = type(case).model_validate(data)
    assert [(p.key, p.words) for p in loaded.resolution.parts] == [("need", ["帮您查"])]
    session = drill(loaded, ["您好，我马上帮您查一下。"], closing=CLOSING)
    assert session.outcome == "accepted" and session.finished
