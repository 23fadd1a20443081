"""Optional LLM wording of the simulated customer, through any OpenAI-compatible server.

Point it at a local vLLM, llama.cpp or Ollama server:

    export ZUOXI_LLM_BASE_URL=http://127.0.0.1:11434/v1   # …/v1 of the server
    export ZUOXI_LLM_MODEL=qwen2.5:7b-instruct

The simulator still decides the customer's anger, the outcome, the score and what the line means;
the model only words it, told the persona, the hidden need, the situation and the planned line (whose
facts are the only ones it may state).

Each line has one deadline for the whole exchange (connect, headers and every byte of the body), so
a server that hangs or trickles a byte every few seconds cannot hold a line past it. A timeout, an
HTTP error, an unreadable reply or one that is not a customer's line raises LLMError, and the session
turns the engine off for the rest of the drill and says so on screen (simulator.DrillSession._word).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from typing import Any
from urllib.parse import urlsplit

import httpx

from zuoxi.coaching.simulator import DrillSession, Plan

SITUATIONS = {
    "acknowledge": "坐席刚做了有用的事，但还没解决你的诉求。简短回应，让他继续。",
    "grudging": "你刚说过要找领导投诉，坐席还没做出实质改变。冷淡回应，不要道谢。",
    "progress": "坐席解决了你诉求中的一部分。简短认可，再提出还没解决的部分。",
    "push": "你的诉求还没被解决。换种说法再说一次你的诉求。",
    "empty": "坐席只是在道歉或说客气话，没有实际行动。指出光道歉没用，再说一次诉求。",
    "confirm": "坐席在确认你的诉求。确认就是这样，再说一次还没解决的部分。",
    "told": "坐席又问了你刚回答过的事。指出你已经说过，再说一次诉求。",
    "unknown": "坐席问了你没法回答、或与你的事无关的问题。不要编造任何信息，把话题拉回你的诉求。",
    "answer": "坐席问到了你知道的情况。如实回答。",
    "trigger": "坐席说的话戳到了你的痛处。不满地回应。",
    "impatient": "你越来越不耐烦，语气变重。",
    "repeated": "坐席在重复同一句话，你很不满，指出他一直在重复。",
    "deflected": "坐席在推诿，让你去找别人。你质问他。",
    "refused": "坐席拒绝了你却没给理由。你追问原因或别的办法。",
    "over_promise": "坐席对他控制不了的事打包票。你不相信空口保证，要实际的办法。",
    "insulted": "坐席态度不好。你很生气地指出来。",
    "threaten": "你快忍无可忍了：警告对方再这样就找领导投诉。",
    "suspicious": "你怀疑这个电话是诈骗，要求对方证明身份。",
    "verified": "对方核对了信息或给了官方渠道，你放下戒心。",
    "demand_manager": "你已经忍无可忍：要求找领导，并说要投诉。",
    "accept": "坐席解决了你的诉求。你接受并道谢，结束对话。",
    "accept_alternative": "坐席给了一个可以接受的替代方案。你勉强接受，结束对话。",
    "give_up": "你不想再说了，结束对话。",
}


_CJK = re.compile(r"[\u4e00-\u9fff]")
_SPEAKER = re.compile(r"^\s*(?:客户|顾客|用户)\s*[:：]\s*")
_NOT_THE_CUSTOMER = re.compile(
    r"^\s*(?:坐席|客服|agent|assistant)\s*[:：]|作为(?:一个)?(?:AI|人工智能|语言模型)|as an ai", re.IGNORECASE
)
MAX_LINE = 120


class LLMError(RuntimeError):
    """Why the LLM produced no line, in the words the trainee reads."""


def customer_line(content: object) -> str:
    """The first line of the model's answer if it reads as a Chinese customer's line, else LLMError."""
    if not isinstance(content, str):
        raise LLMError("模型回复格式不对")
    line = next((x.strip() for x in content.splitlines() if x.strip()), "")
    line = _SPEAKER.sub("", line).strip('"“”「」 ')
    if len(_CJK.findall(line)) < 2 or _NOT_THE_CUSTOMER.search(line) or len(line) > MAX_LINE:
        raise LLMError("模型回复不像客户说的话")
    return line


class LLMEngine:
    name = "llm"

    def __init__(self, base_url: str, model: str, timeout: float = 10.0, api_key: str | None = None):
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.timeout = timeout  # seconds for the whole exchange of one line
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def describe(self) -> str:
        return f"{self.model} @ {urlsplit(self.url).netloc.rpartition('@')[2]}"  # never the URL's credentials

    @classmethod
    def from_environment(cls) -> LLMEngine | None:
        """The engine configured by ZUOXI_LLM_BASE_URL / ZUOXI_LLM_MODEL, or None."""
        base, model = os.environ.get("ZUOXI_LLM_BASE_URL"), os.environ.get("ZUOXI_LLM_MODEL")
        if not base or not model:
            return None
        try:
            timeout = float(os.environ.get("ZUOXI_LLM_TIMEOUT") or "10")
        except ValueError:
            raise ValueError(f"ZUOXI_LLM_TIMEOUT 应为秒数，而不是 {os.environ['ZUOXI_LLM_TIMEOUT']!r:.40}") from None
        return cls(base, model, timeout, os.environ.get("ZUOXI_LLM_API_KEY"))

    def messages(self, session: DrillSession, plan: Plan) -> list[dict]:
        case, persona = session.case, session.case.persona
        system = (
            f"你在客服培训中扮演客户{persona.name}。只说客户的一句话，不超过60个字，不要旁白。\n"
            f"场景：{case.description}\n你真正的诉求（不要直接全部说出，除非被问到）：{case.need}\n"
            f"性格：耐心{persona.patience:.1f}，礼貌{persona.politeness:.1f}，怀疑{persona.suspicion:.1f}（0–1）。\n"
            f"你现在的愤怒程度：{session.current_anger:.2f}（0平静，1要投诉）。\n这一句要做的：{SITUATIONS[plan.situation]}\n"
            f"这一句的意思（换成你自己的说法，不要添加任何没给你的信息）：{plan.line}"
        )
        history = [{"role": "assistant" if t.role == "customer" else "user", "content": t.text} for t in session.turns]
        return [{"role": "system", "content": system}, *history]

    def reply(self, session: DrillSession, plan: Plan) -> str:
        payload = {
            "model": self.model,
            "messages": self.messages(session, plan),
            "temperature": 0.7,
            "max_tokens": 120,
            "seed": session.seed,
        }
        try:
            data = asyncio.run(self._exchange(payload))
        except TimeoutError:
            raise LLMError(f"模型 {self.timeout:g} 秒内没有答完") from None
        except httpx.HTTPStatusError as error:
            raise LLMError(f"模型服务返回 HTTP {error.response.status_code}") from None
        except httpx.HTTPError as error:
            raise LLMError(f"连不上模型服务（{type(error).__name__}）") from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise LLMError("模型回复不是 JSON") from None
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise LLMError("模型回复格式不对") from None
        return customer_line(content)

    async def _exchange(self, payload: dict) -> Any:  # parsed JSON of any shape: `reply` checks it
        """POST and read the whole answer within one deadline: the per-read timeouts of httpx restart
        with every byte, so they alone would let a trickling server hold the line for minutes."""
        async with asyncio.timeout(self.timeout), httpx.AsyncClient(timeout=self.timeout) as client:
            response = await client.post(self.url, headers=self.headers, json=payload)
            response.raise_for_status()
            return response.json()
