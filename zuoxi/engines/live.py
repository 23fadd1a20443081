"""Live assist: a conversation scored one turn at a time while it runs (docs/live.md).

Each turn is masked, normalized, scanned for the scorecard's keywords and — for the customer —
read for emotion once, when it arrives. The scorecard items named in `live_alerts.yaml` then run
over a bounded window: the last `TAIL` turns plus a few pinned ones (the customer's first turn,
what "anger rising" compares against; each `once` item's first trigger). So the cost of a turn
does not grow with the length of the conversation, and an alert fires once, at the turn where its
violation became certain: a forbidden phrase when it is said, a missed expectation when the turn
that should have met it has come without it (`Condition.settled`).

    session = LiveSession("call-42", scorecard="core")
    update = session.add_turn({"role": "customer", "text": "我要投诉你们！"})
    update.alerts  # [Alert(kind="complaint_risk", suggestion=…)]
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from functools import lru_cache
from importlib.resources import files
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict

from zuoxi.analyze.emotion import CustomerEmotion, as_turn_emotion, fuse, lexicon_emotion
from zuoxi.analyze.models import load_models
from zuoxi.analyze.models.acts import TurnActs
from zuoxi.model import Alert, Channel, Conversation, Evidence, LiveUpdate, Result, Turn
from zuoxi.normalize import Prepared, PreparedTurn, normalize_turn
from zuoxi.pipeline import analyze_conversation
from zuoxi.privacy import mask_continued, mask_id, mask_turns
from zuoxi.rules.engine import CompiledItem, get_scorecard
from zuoxi.rules.operators import Hit

# Turns of context the alert rules see besides the customer's first one. The longest pattern among
# the alerts, a broken record (three near-identical agent suggestions with pushback in between),
# spans 5 turns; 16 leaves room for chat bursts (several messages in a row from one side).
TAIL = 16
MAX_TURNS = 5_000  # a session is one conversation: ten hours of chat is far beyond any real one
MAX_TEXT = 2_000  # characters of one turn: a long chat message or a minute of speech; more stalls every session


class SessionFull(ValueError):
    """More turns than one conversation can have (MAX_TURNS)."""


class SessionClosed(ValueError):
    """A turn for a conversation that has ended."""


class EmptyTurn(ValueError):
    """A turn with no text (empty or only whitespace): refused, as nothing was said."""


class AlertSpec(BaseModel):
    """One entry of live_alerts.yaml."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    title: str
    rule: str | None = None
    model: Literal["complaint_risk"] | None = None
    threshold: float = 0.5
    suggestion_from: str | None = None
    cooldown: int = 0
    early: bool = False
    fire: Literal["violation", "trigger"] = "violation"


@lru_cache(maxsize=1)
def alert_specs() -> tuple[AlertSpec, ...]:
    raw = yaml.safe_load(files("zuoxi.engines").joinpath("live_alerts.yaml").read_text(encoding="utf-8"))
    return tuple(AlertSpec(**entry) for entry in raw["alerts"])


class LiveSession:
    """The state of one running conversation. Not thread-safe: one caller feeds it turns in order."""

    def __init__(
        self,
        session_id: str,
        scorecard: str = "core",
        channel: Channel = "chat",
        models: bool = True,
        mask: bool = True,
        agent_id: str | None = None,
        team: str | None = None,
        started_at: datetime | str | None = None,
    ):
        self.id = session_id
        # When the call began: a stored session is dated by it (the list, the agent's trend, sampling by period).
        # A string as Redis keeps the options of a shared session; a new session begins now.
        self.started_at = (
            datetime.fromisoformat(started_at) if isinstance(started_at, str) else started_at or datetime.now(UTC)
        )
        self.scorecard = scorecard
        self.channel = channel
        self.agent_id, self.team = agent_id, team
        self.models = models
        self.mask = mask
        self.compiled = get_scorecard(scorecard)
        items = {c.item.id: c for c in self.compiled.items}
        self._rules: list[tuple[AlertSpec, CompiledItem]] = [
            (spec, items[spec.rule]) for spec in alert_specs() if spec.rule and spec.rule in items
        ]
        self._model_alerts = [spec for spec in alert_specs() if spec.model]
        self._items = items
        self.complaint_risk: float | None = None
        self.window_size = 0  # turns the last evaluation looked at: TAIL and the few pinned ones
        # What a long conversation keeps is its transcript and its answers, as tuples and strings:
        # with hundreds of sessions in a server, objects the garbage collector has to walk would make
        # its full collections, and so some turns' latency, grow with everything ever said.
        self._transcript: list[tuple[str, str, float | None, float | None]] = []
        self._answers: list[str] = []  # each turn's LiveUpdate as JSON (a resent turn is answered from here)
        self._alerts: list[str] = []  # every alert so far, as JSON
        self._held: dict[int, _Held] = {}  # what the window needs of each turn it holds
        self._first_customer: int | None = None
        # Turns the window keeps however old: the customer's first (what "anger rising" compares
        # with) and the first trigger of each `once` item (what such an item is judged against).
        self._pinned: set[int] = set()
        self.ended = False
        self._alerted_turns: dict[str, set[int]] = {}  # rule → turns already shown as its evidence
        self._decided: set[tuple[str, int | None]] = set()  # expectations judged: (rule, anchor turn)
        self._last_fired: dict[str, int] = {}
        self._above: set[str] = set()  # model alerts currently over their threshold
        self._texts_read: dict[str, tuple] = {}  # the models' reading of each text in the window
        self._act_model: TurnActs | None = None  # the latest window's acts: their names, thresholds, model

    def __len__(self) -> int:
        return len(self._transcript)

    @property
    def turns(self) -> list[Turn]:
        return [Turn.model_construct(role=r, text=t, start=s, end=e) for r, t, s, e in self._transcript]

    @property
    def alerts(self) -> list[Alert]:
        return [Alert.model_validate_json(a) for a in self._alerts]

    def answer(self, turn: int) -> str:
        """The update given for `turn`, as JSON."""
        return self._answers[turn]

    def said(self, turn: int) -> dict[str, Any]:
        """Turn `turn` as taken (masked): what another process replays to reach this state."""
        role, text, start, end = self._transcript[turn]
        return {"role": role, "text": text, "start": start, "end": end}

    def add_turn(self, turn: Turn | dict[str, Any]) -> LiveUpdate:
        """Take the next turn; answer with the alerts that just became true. A turn that cannot be
        taken (ValueError: invalid, too long, the session ended or full) leaves the session as it was."""
        if self.ended:
            raise SessionClosed("这通对话已结束")
        if len(self) >= MAX_TURNS:
            raise SessionFull(f"一次实时辅助最多 {MAX_TURNS} 句")
        turn = turn if isinstance(turn, Turn) else Turn.model_validate(turn)
        if not turn.text.strip():  # nothing said: it would be analysed as a turn all the same
            raise EmptyTurn("内容是空白的，请输入说的话再发送")
        if len(turn.text) > MAX_TEXT:
            raise ValueError(f"一句最多 {MAX_TEXT} 个字，这一句有 {len(turn.text)} 个")
        turn.text.encode("utf-8")  # UnicodeEncodeError (a ValueError) for lone surrogates, before anything is kept
        if self.mask:
            turn = turn.model_copy(update={"text": mask_continued(self._said_before(turn.role), turn.text)})
        index = len(self)
        prepared = PreparedTurn(
            index=index, role=turn.role, text=turn.text, norm=normalize_turn(turn.text), start=turn.start, end=turn.end
        )
        _ = prepared.clauses  # computed once here, reused by every window that holds this turn
        keywords = {
            key: [(h.start, h.end) for h in hits] for key, hits in self.compiled.scan_keywords([prepared]).items()
        }
        self._transcript.append((turn.role, turn.text, turn.start, turn.end))
        self._held[index] = held = _Held(turn, prepared, keywords)
        first_customer = self._first_customer
        try:
            if turn.role == "customer" and self._first_customer is None:
                self._first_customer = index
                self._pinned.add(index)
            self._read_turn(index)
            window = self._window()
            alerts: list[Alert] = []
            self._rule_alerts(window, alerts)
            if held.emotion is not None:
                self._model_alerts_fire(alerts)
        except BaseException:
            self._transcript.pop()
            del self._held[index]
            if first_customer is None:
                self._first_customer = None
                self._pinned.discard(index)
            raise
        update = LiveUpdate(
            session=self.id,
            turn=index,
            alerts=alerts,
            complaint_risk=self.complaint_risk,
            emotion=None if held.emotion is None else as_turn_emotion(index, held.emotion),
        )
        self._answers.append(update.model_dump_json())
        self._alerts.extend(a.model_dump_json() for a in alerts)
        self._forget(window.indices)
        return update

    def conversation(self) -> Conversation:
        """Everything said so far, as the batch pipeline reads it — and stores it: the turns as taken, masked again as
        a whole (`mask_turns`), which masks the earlier part of a number split across turns where the later part
        still shows its digits (`电话是138 0013`, then `8000`: see `_said_before`)."""
        turns = self.turns
        if self.mask:
            texts = mask_turns([(t.role, t.text) for t in turns])
            turns = [
                t if t.text == text else Turn(role=t.role, text=text, start=t.start, end=t.end)
                for t, text in zip(turns, texts)
            ]
        return Conversation(
            id=mask_id(self.id) if self.mask else self.id,  # the client names the session: a phone, at times
            channel=self.channel,
            agent_id=self.agent_id,
            team=self.team,
            started_at=self.started_at,
            turns=turns,
            meta={"scorecard": self.scorecard, "live": True},
        )

    def finish(self, conversation: Conversation | None = None) -> Result:
        """The full QA analysis of the conversation (or of `conversation`, a snapshot of it taken with
        `conversation()`), exactly as `zuoxi analyze` would score it."""
        return analyze_conversation(conversation or self.conversation(), self.scorecard, mask=False, models=self.models)

    # -------------------------------------------------------------------------------------------
    def _said_before(self, role: str) -> list[str]:
        """The texts of the last few turns, as taken (masked), if `role` said them with no other turn after them: what
        a number this speaker goes on with began in (speech recognition ends a turn at a pause). The new turn's part
        of such a number is masked as it comes (`mask_continued`). The earlier part cannot be: it was taken, answered
        and shared with the other processes (`said`) before the rest was said, and stays in clear in the session.
        What is stored at the end (`conversation`) reads the turns as taken again, so it masks the earlier part too
        where the later part still shows its digits (`电话是138 0013`, then `8000`, which keeps all four of its
        digits), but not where the later part was masked as it came (`我手机号是138`, then `0013 8000`: taken as
        `****8000`, which no longer tells 138 is a phone number's start): there `138` stays as said."""
        before: list[str] = []
        for said_by, text, _, _ in reversed(self._transcript[-4:]):
            if said_by != role:
                break
            before.insert(0, text)
        return before

    def _forget(self, indices: list[int]) -> None:
        """Drop what only turns that have left the window needed."""
        kept = set(indices) | self._pinned
        for g in [g for g in self._held if g not in kept]:
            del self._held[g]
        start = indices[-1] - TAIL + 2  # the oldest unpinned turn the next window will hold
        if start > 0:
            pinned = self._pinned
            for alerted in self._alerted_turns.values():
                alerted.difference_update([g for g in alerted if g < start and g not in pinned])
            self._decided = {k for k in self._decided if k[1] is None or k[1] >= start or k[1] in pinned}

    def _window_indices(self) -> list[int]:
        n = len(self)
        tail = range(max(0, n - TAIL), n)
        return sorted(g for g in self._pinned if g < tail.start) + list(tail)

    def _read_turn(self, index: int) -> None:
        """What the models read in the new turn, once, as it arrives: its dialogue acts (as the latest
        turn of the conversation so far), and for a customer turn the emotion (the cue words fused with
        the models reading the window) and the conversation's complaint risk."""
        held = self._held[index]
        lexicon = lexicon_emotion(held.prepared.norm) if held.turn.role == "customer" else None
        if not self.models:
            held.emotion = lexicon
            return
        indices = self._window_indices()
        window = Conversation.model_construct(id=self.id, turns=[self._held[g].turn for g in indices])
        prediction = load_models().predict(window, cache=self._texts_read)
        if len(self._texts_read) > 4 * TAIL:  # keep what the window may still hold
            kept = {self._held[g].turn.text for g in indices}
            self._texts_read = {t: r for t, r in self._texts_read.items() if t in kept}
        local = len(indices) - 1
        if prediction.acts is not None:
            held.acts = prediction.acts.probs[local].copy()
            self._act_model = prediction.acts
        if lexicon is not None:
            probs = next((p.probs for p in prediction.emotion if p.turn == local), None)
            satisfaction = next((p.label for p in prediction.satisfaction if p.turn == local), None)
            held.emotion = fuse(lexicon, probs, satisfaction)
            self.complaint_risk = prediction.dialogue.complaint_risk

    def _window(self) -> _Window:
        indices = self._window_indices()
        self.window_size = len(indices)
        turns: list[PreparedTurn] = []
        keyword_hits: dict[int, list[Hit]] = {}
        emotions: dict[int, CustomerEmotion] = {}
        act_rows: list[np.ndarray] = []  # every turn's, else fewer: the window then goes without acts
        for local, g in enumerate(indices):
            held = self._held[g]
            source = held.prepared
            turn = PreparedTurn(
                index=local, role=source.role, text=source.text, norm=source.norm, start=source.start, end=source.end
            )
            turn.__dict__["clauses"] = source.clauses
            turns.append(turn)
            for key, spans in held.keywords.items():
                keyword_hits.setdefault(key, []).extend(Hit(local, s, e) for s, e in spans)
            if held.emotion is not None:
                emotions[local] = held.emotion
            if held.acts is not None:
                act_rows.append(held.acts)
        conversation = Conversation.model_construct(
            id=self.id, channel=self.channel, meta={}, turns=[self._held[g].turn for g in indices]
        )
        acts = None
        if self._act_model is not None and len(act_rows) == len(indices):
            acts = self._act_model.with_rows([t.role for t in turns], np.vstack(act_rows))
        ctx = self.compiled.context(
            Prepared(conversation=conversation, turns=turns), emotions=emotions, keyword_hits=keyword_hits, acts=acts
        )
        return _Window(indices, ctx)

    def _rule_alerts(self, window: _Window, alerts: list[Alert]) -> None:
        """Each alerting rule's alerts on the window, anchor by anchor; a rule met once keeps its first trigger
        pinned in the window."""
        ctx, g = window.ctx, window.indices
        for spec, c in self._rules:
            anchors = self.compiled.anchors(c, ctx)
            if anchors is None:
                continue
            if c.item.once and anchors[0] is not None:
                self._pinned.add(g[anchors[0].turn])  # the item's first trigger stays its anchor
            alerted = self._alerted_turns.setdefault(c.item.id, set())
            for anchor in anchors:
                if spec.fire == "trigger":
                    self._trigger_alert(spec, c, anchor, window, alerted, alerts)
                else:
                    self._judged_alert(spec, c, anchor, window, alerted, alerts)

    def _trigger_alert(
        self,
        spec: AlertSpec,
        c: CompiledItem,
        anchor: Hit | None,
        window: _Window,
        alerted: set[int],
        alerts: list[Alert],
    ) -> None:
        """An alert as soon as the rule's trigger is seen, once per trigger turn of the conversation."""
        g = window.indices
        if anchor is not None and g[anchor.turn] not in alerted:
            alerted.add(g[anchor.turn])
            self._fire(spec, c, [anchor], window, alerts)

    def _judged_alert(
        self,
        spec: AlertSpec,
        c: CompiledItem,
        anchor: Hit | None,
        window: _Window,
        alerted: set[int],
        alerts: list[Alert],
    ) -> None:
        """An alert once the rule is judged broken at this anchor. A forbidden phrase alerts on each turn that
        says it, once; any other check is decided once per anchor, after which its expectation is no longer
        waited for."""
        g = window.indices
        key = (c.item.id, None if anchor is None else g[anchor.turn])
        judged = self.compiled.judge(
            c, window.ctx, anchor, wait=not spec.early, skip_expect=c.item.partial or key in self._decided
        )
        if judged is None:
            return
        if judged.kind == "forbid":
            fresh = [h for h in judged.evidence if g[h.turn] not in alerted]
            if fresh:
                alerted.update(g[h.turn] for h in fresh)
                trigger = [anchor] if anchor is not None and c.item.evidence == "trigger" else []
                self._fire(spec, c, sorted(set(fresh + trigger)), window, alerts)
            return
        self._decided.add(key)
        if judged.violated:
            self._fire(spec, c, [anchor] if anchor is not None else [], window, alerts)

    def _model_alerts_fire(self, alerts: list[Alert]) -> None:
        for spec in self._model_alerts:
            value = self.complaint_risk if spec.model == "complaint_risk" else None
            if value is None:
                continue
            if value < spec.threshold:
                self._above.discard(spec.kind)
            elif spec.kind not in self._above:
                self._above.add(spec.kind)
                source = self._items.get(spec.suggestion_from or "")
                self._fire(spec, source, [], None, alerts, score=value)

    def _fire(
        self,
        spec: AlertSpec,
        c: CompiledItem | None,
        hits: list[Hit],
        window: _Window | None,
        alerts: list[Alert],
        score: float | None = None,
    ) -> None:
        turn = len(self) - 1
        same = next((a for a in alerts if a.kind == spec.kind), None)
        if same is not None:  # one alert per kind and turn; a model's estimate joins the rule's evidence
            if score is not None:
                same.score = round(score, 3)
            return
        last = self._last_fired.get(spec.kind)
        if last is not None and turn - last < spec.cooldown:
            return
        self._last_fired[spec.kind] = turn
        evidence = []
        if window is not None:  # hits come with the window they were found in
            for h in hits:
                g = window.indices[h.turn]
                evidence.append(
                    Evidence(turn=g, start=h.start, end=h.end, text=self._held[g].turn.text[h.start : h.end])
                )
        alerts.append(
            Alert(
                kind=spec.kind,
                title=spec.title,
                turn=turn,
                rule=c.item.id if c and spec.rule else None,
                message=c.item.message if c else "",
                suggestion=c.item.suggestion if c else "",
                evidence=evidence,
                score=None if score is None else round(score, 3),
            )
        )


class _Held:
    """A turn while it is in the window: itself, its matching form, its keywords, the customer's emotion."""

    __slots__ = ("acts", "emotion", "keywords", "prepared", "turn")

    def __init__(self, turn: Turn, prepared: PreparedTurn, keywords: dict[int, list[tuple[int, int]]]):
        self.turn, self.prepared, self.keywords = turn, prepared, keywords
        self.emotion: CustomerEmotion | None = None
        self.acts: np.ndarray | None = None  # the turn's act probabilities, read when it arrived


class _Window:
    """The turns an evaluation sees: `indices[local]` is the conversation's turn number."""

    __slots__ = ("ctx", "indices")

    def __init__(self, indices: list[int], ctx):
        self.indices = indices
        self.ctx = ctx


class LiveSessions:
    """Running sessions by key, kept while in use so that a client that reconnects resumes where it
    was; sessions idle longer than `idle_seconds` are dropped, and an owner's oldest beyond
    `per_owner` (a client that never ends its sessions cannot fill the memory)."""

    def __init__(self, idle_seconds: float = 2 * 3600, per_owner: int = 200):
        self.idle_seconds = idle_seconds
        self.per_owner = per_owner
        self._sessions: dict[tuple[str, str], tuple[LiveSession, float]] = {}
        self._lock = threading.Lock()

    def get(self, owner: str, session_id: str) -> LiveSession | None:
        with self._lock:
            self._expire()
            entry = self._sessions.get((owner, session_id))
            if entry is None:
                return None
            self._sessions[(owner, session_id)] = (entry[0], time.monotonic())
            return entry[0]

    def open(self, owner: str, session_id: str, **options: Any) -> LiveSession:
        """The running session of that id, or a new one with `options` (LiveSession's)."""
        session = self.get(owner, session_id)
        if session is None:
            session = LiveSession(session_id, **options)
            with self._lock:
                self._sessions[(owner, session_id)] = (session, time.monotonic())
                mine = sorted((seen, key) for key, (_, seen) in self._sessions.items() if key[0] == owner)
                for _, key in mine[: max(0, len(mine) - self.per_owner)]:
                    del self._sessions[key]
        return session

    def put(self, owner: str, session_id: str, session: LiveSession) -> None:
        """Keep `session` under that id (a copy rebuilt from shared state)."""
        with self._lock:
            self._sessions[(owner, session_id)] = (session, time.monotonic())

    def touch(self, owner: str, session_id: str) -> None:
        """A session in use is not idle: called for every message, not only on connect."""
        with self._lock:
            entry = self._sessions.get((owner, session_id))
            if entry is not None:
                self._sessions[(owner, session_id)] = (entry[0], time.monotonic())

    def close(self, owner: str, session_id: str) -> LiveSession | None:
        with self._lock:
            entry = self._sessions.pop((owner, session_id), None)
        return entry[0] if entry else None

    def end(self, owner: str, session_id: str) -> bool:
        """Close the session; whether this call did: in one process the connection that ends it always does (its
        frames are taken one at a time, zuoxi.web.assist)."""
        self.close(owner, session_id)
        return True

    def sync(self, owner: str, session_id: str, session: LiveSession) -> LiveSession:
        """The session as it stands now: in one process, the one in hand (see zuoxi.web.shared)."""
        return session

    def add_turn(self, owner: str, session_id: str, session: LiveSession, turn: dict[str, Any]) -> LiveUpdate:
        return session.add_turn(turn)

    def __len__(self) -> int:
        return len(self._sessions)

    def _expire(self) -> None:
        cutoff = time.monotonic() - self.idle_seconds
        for key in [k for k, (_, seen) in self._sessions.items() if seen < cutoff]:
            del self._sessions[key]
