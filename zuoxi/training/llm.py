"""Optional LLM wording of the simulated customer, through any OpenAI-compatible server.

Point it at a local vLLM, llama.cpp or Ollama server:

    export ZUOXI_LLM_BASE_URL=http://127.0.0.1:11434/v1   # …/v1 of the server
    export ZUOXI_LLM_MODEL=qwen2.5:7b-instruct

The simulator's rules still decide the customer's anger and the outcome; the model only says
the line, told the persona, the hidden need, the facts it may reveal and the situation. A timeout,
an HTTP error or a malformed reply raises, and the session answers with the offline engine.
"""

from __future__ import annotations

import os

import httpx

from zuoxi.training.simulator import DrillSession

SITUATIONS = {
    "acknowledge": "坐席刚做了有用的事，但还没解决你的诉求。简短回应，让他继续。",
    "push": "你的诉求还没被解决。换种说法再说一次你的诉求。",
    "impatient": "你越来越不耐烦，语气变重。",
    "repeated": "坐席在重复同一句话，你很不满，指出他一直在重复。",
    "deflected": "坐席在推诿，让你去找别人。你质问他。",
    "refused": "坐席拒绝了你却没给理由。你追问原因或别的办法。",
    "insulted": "坐席态度不好。你很生气地指出来。",
    "suspicious": "你怀疑这个电话是诈骗，要求对方证明身份。",
    "verified": "对方核对了信息或给了官方渠道，你放下戒心。",
    "demand_manager": "你已经忍无可忍：要求找领导，并说要投诉。",
    "accept": "坐席解决了你的诉求。你接受并道谢，结束对话。",
    "accept_alternative": "坐席给了一个可以接受的替代方案。你勉强接受，结束对话。",
    "give_up": "你不想再说了，结束对话。",
}


class LLMEngine:
    def __init__(self, base_url: str, model: str, timeout: float = 10.0, api_key: str | None = None):
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.timeout = timeout
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    @classmethod
    def from_environment(cls) -> LLMEngine | None:
        """The engine configured by ZUOXI_LLM_BASE_URL / ZUOXI_LLM_MODEL, or None."""
        base, model = os.environ.get("ZUOXI_LLM_BASE_URL"), os.environ.get("ZUOXI_LLM_MODEL")
        if not base or not model:
            return None
        return cls(base, model, float(os.environ.get("ZUOXI_LLM_TIMEOUT", "10")), os.environ.get("ZUOXI_LLM_API_KEY"))

    def messages(self, session: DrillSession, situation: str, fact: str | None) -> list[dict]:
        case, persona = session.case, session.case.persona
        system = (
            f"你在客服培训中扮演客户{persona.name}。只说客户的一句话，不超过60个字，不要旁白。\n"
            f"场景：{case.description}\n你真正的诉求（不要直接全部说出，除非被问到）：{case.need}\n"
            f"性格：耐心{persona.patience:.1f}，礼貌{persona.politeness:.1f}，怀疑{persona.suspicion:.1f}（0–1）。\n"
            f"你现在的愤怒程度：{session.current_anger:.2f}（0平静，1要投诉）。\n这一句要做的：{SITUATIONS[situation]}"
        )
        if fact:
            system += f"\n坐席刚问到了你知道的情况，请在回答里说出：{fact}"
        history = [{"role": "assistant" if t.role == "customer" else "user", "content": t.text} for t in session.turns]
        return [{"role": "system", "content": system}, *history]

    def reply(self, session: DrillSession, situation: str, fact: str | None) -> str:
        response = httpx.post(self.url, headers=self.headers, timeout=self.timeout, json={
            "model": self.model, "messages": self.messages(session, situation, fact), "temperature": 0.7,
            "max_tokens": 120, "seed": session.seed,
        })
        response.raise_for_status()
        text = response.json()["choices"][0]["message"]["content"]
        if not isinstance(text, str) or not text.strip():
            raise ValueError("empty reply from the model")
        return text.strip().splitlines()[0][:200]
