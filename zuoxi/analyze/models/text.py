"""Text normalisation, character n-grams and cue counts shared by training and run time.

Everything here is pure Python (plus OpenCC and numpy), so the features computed while training
are exactly the ones computed at run time. Changing anything in this file changes the features:
retrain (`make models`) afterwards. `FEATURE_VERSION` is stored in the artefacts and checked
at load time.
"""

from __future__ import annotations

import html
import math
import operator
import re
import unicodedata
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import cast

import numpy as np

from zuoxi.normalize import JOIN, at_once, replacer, simplify

FEATURE_VERSION = 1

NGRAM_MIN = 1
NGRAM_MAX = 3
BOS = "\x02"  # marks the start of a text, so "^好" differs from "…好"
EOS = "\x03"
# An n-gram as one integer: its code points plus one (so no character is 0), 21 bits apiece
# (every code point fits): a 1–3-gram is a positive int64 and grams of different lengths never
# collide.
CODE_BITS = 21

# Anonymisation placeholders of JDDC and the like: one symbol each, so that they do not produce
# n-grams of their own words ("数字", "金额").
_PLACEHOLDERS = [
    (re.compile(r"#e-s\[数字x\]"), "☺"),
    (re.compile(r"\[orderid_\d+\]"), "0"),
    (re.compile(r"\[(?:数字|金额|时间|日期|电话|身份证号)x\]"), "0"),
    (re.compile(r"\[(?:姓名|地址|站点|组织机构|邮箱|链接)x\]"), "◇"),
]
_URL = re.compile(r"(?:https?://|www\.)[!-~]+")
_MENTION = re.compile(r"@[^\s@,:.!?;()\[\]'\"，。！？：；、]{1,24}")
_DIGITS = re.compile(r"\d+")
_SPACES = re.compile(r"\s+")
_RUNS = re.compile(r"(.)\1{3,}")  # 啊啊啊啊啊 → 啊啊啊, !!!!!! → !!!
_add = operator.add


@lru_cache(maxsize=1)
def _nfkc_chars() -> Callable[[str], str]:
    """Each BMP character NFKC changes replaced by its NFKC form."""
    return replacer({ch: n for c in range(0x10000) if (n := unicodedata.normalize("NFKC", ch := chr(c))) != ch})


def nfkc(text: str) -> str:
    """unicodedata.normalize("NFKC", text), faster on chat text.

    Full-width punctuation (，？！) makes nearly every Chinese message fail NFKC's quick check,
    and the full algorithm is then 5× slower than OpenCC. Replacing each character by its own
    NFKC form first leaves the compatibility decomposition, hence the NFKC form, unchanged, and
    what comes out is usually already normal (quick check passes); otherwise normalize fully."""
    folded = _nfkc_chars()(text)
    return folded if unicodedata.is_normalized("NFKC", folded) else unicodedata.normalize("NFKC", folded)


def normalize(text: str) -> str:
    """Traditional → Simplified, NFKC width folding, lower case, placeholders, URLs, @names.

    Digits are kept (so cue patterns such as 12315 still match); `ngram_text` folds them.
    """
    if not text:
        return ""
    if "&" in text:
        text = html.unescape(text)
    return _finish(nfkc(simplify(text)).lower())


_MENTION_JOINED = re.compile(_MENTION.pattern.replace("、]", "、" + JOIN + "]"))  # stops at a joint


def normalize_all(texts: Sequence[str]) -> list[str]:
    """`normalize` of every text, with one NFKC and lower() call for all of them (a conversation's
    turns): the same result for less time. OpenCC reads each text on its own (`simplify`: Taiwan wording
    for a Traditional text only)."""
    unescaped = [html.unescape(t) if "&" in t else t for t in texts]
    filled = [i for i, t in enumerate(unescaped) if t]  # empty texts stay out: no two joints touch
    # The rest of `normalize` on all texts at once too: no pattern matches across a joint, and
    # stripping each text afterwards cannot change a run.
    parts = at_once(
        [simplify(unescaped[i]) for i in filled],
        lambda joined: _RUNS.sub(r"\1\1\1", _SPACES.sub(" ", _rewrite(nfkc(joined).lower(), _MENTION_JOINED))),
    )
    if parts is None:
        return [normalize(t) for t in texts]
    out = [""] * len(texts)
    for i, part in zip(filled, parts):
        out[i] = part.strip()
    return out


def _finish(s: str) -> str:
    """The rest of `normalize`, after width folding and lower case."""
    return _RUNS.sub(r"\1\1\1", _SPACES.sub(" ", _rewrite(s)).strip())


def _rewrite(s: str, mention: re.Pattern[str] = _MENTION) -> str:
    """Placeholders, URLs and @names to one symbol each."""
    if "[" in s or "#" in s:
        for pat, rep in _PLACEHOLDERS:
            s = pat.sub(rep, s)
    if "http" in s or "www." in s:
        s = _URL.sub("U", s)
    if "@" in s:
        s = mention.sub("@", s)
    return s


def ngram_text(norm: str) -> str:
    """The string the n-grams are taken from: digit runs folded to one `0`."""
    return _DIGITS.sub("0", norm)


def ngrams(norm: str, lo: int = NGRAM_MIN, hi: int = NGRAM_MAX, max_chars: int = 600) -> list[str]:
    """Character n-grams (lo…hi) of a normalised text with start/end marks; long texts are cut.

    Unigrams are the characters themselves (a lone mark carries nothing); longer n-grams may
    include the marks. Order is irrelevant (they are counted)."""
    s = ngram_text(norm)
    if len(s) > max_chars:
        s = s[:max_chars]
    if not s:
        return []
    m = BOS + s + EOS
    if (lo, hi) == (1, 3):  # the fast path used by the models
        bi = list(map(_add, m, m[1:]))
        return list(s) + bi + list(map(_add, bi, m[2:]))
    out: list[str] = list(s) if lo <= 1 <= hi else []
    for k in range(max(lo, 2), hi + 1):
        out.extend(m[i : i + k] for i in range(len(m) - k + 1))
    return out


def gram_key(gram: str) -> int:
    key = 0
    for ch in gram:
        key = (key << CODE_BITS) | (ord(ch) + 1)
    return key


def gram_keys(norms: Sequence[str], max_chars: int = 600) -> tuple[np.ndarray, np.ndarray]:
    """The n-grams `ngrams()` gives (1–3, with start/end marks), of many texts at once, as
    `gram_key` integers, with the index of the text each came from.

    numpy over one string of all the texts: a conversation's n-grams cost a few array operations
    instead of a Python string per n-gram (the models' hottest loop)."""
    segments, owners = [], []
    for i, norm in enumerate(norms):
        s = ngram_text(norm)[:max_chars] if norm else ""
        if s:
            segments.append(s)
            owners.append(i)
    if not segments:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    joined = BOS + (EOS + BOS).join(segments) + EOS
    c = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.int64) + 1
    lens = np.fromiter(map(len, segments), np.int64, len(segments)) + 2
    row = np.repeat(np.asarray(owners, np.int64), lens)
    # the marks by position (a text may hold the mark characters themselves, as plain characters)
    ends = np.cumsum(lens) - 1
    mark = np.zeros(len(c), dtype=bool)
    mark[ends] = True
    uni = ~mark
    mark[ends - lens + 1] = True
    uni &= ~mark
    bi = np.ones(len(c) - 1, dtype=bool)
    bi[ends[:-1]] = False  # a pair starting at a text's end would straddle two texts
    tri = bi[:-1] & bi[1:]
    keys = np.concatenate(
        [
            c[uni],
            ((c[:-1] << CODE_BITS) | c[1:])[bi],
            ((c[:-2] << (2 * CODE_BITS)) | (c[1:-1] << CODE_BITS) | c[2:])[tri],
        ]
    )
    return keys, np.concatenate([row[uni], row[:-1][bi], row[:-2][tri]])


def keys_of_lines(text: str) -> np.ndarray:
    """`gram_key` of every line of `text`, one n-gram of 1–3 characters per line: the committed
    vocabulary is read this way, without a Python string per n-gram."""
    c = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64) + 1
    ends = np.append(np.flatnonzero(c == ord("\n") + 1), len(c))
    starts = np.append(0, ends[:-1] + 1)
    lens = ends - starts
    if lens.min() < 1 or lens.max() > NGRAM_MAX:
        raise ValueError(f"every n-gram must have 1 to {NGRAM_MAX} characters")
    keys = c[starts]  # every line has a character (checked above)
    for k in range(1, NGRAM_MAX):
        longer = lens > k
        keys[longer] = (keys[longer] << CODE_BITS) | c[starts[longer] + k]
    return keys


def gram_of_key(key: int) -> str:
    chars = []
    while key:
        chars.append(chr((key & ((1 << CODE_BITS) - 1)) - 1))
        key >>= CODE_BITS
    return "".join(reversed(chars))


# --- cue lexicons ---------------------------------------------------------------------------
# Hand-written customer-service cues. They are features (weights are learned), not rules.
CUES: dict[str, str] = {
    "anger": r"气死|什么破|破服务|垃圾|坑人|骗子|骗人|恶心|无语|滚|妈的|他妈|卧槽|太过分|过分了|"
    r"什么态度|态度差|态度恶劣|忽悠|糊弄|耍我|有病|不要脸|受够|岂有此理|退钱|坑爹|呵呵",
    "complaint": r"投诉|(?<!\d)(?:12315|315)(?!\d)|消协|消费者协会|工商局|市场监管|曝光|媒体|差评|"
    r"找(?:你们)?(?:领导|经理|主管|上级|负责人)|举报|起诉|律师|法院|维权",
    "urgency": r"催|快点|赶紧|尽快|马上|怎么还没|还没(?:到|发|收到|处理|回复|好)|到底|究竟|急|"
    r"等了|多久|什么时候|几天了|好几天|一直|还要等|怎么回事|人呢|在吗|有人吗|回话",
    "sad": r"难过|伤心|失望|心寒|郁闷|唉|哎|倒霉|无奈|崩溃|哭|委屈|心累|算了",
    "thanks": r"谢谢|多谢|感谢|谢了|辛苦了|太好了|满意|解决了|明白了|好的|好滴|好哒|ok|可以了|没问题|"
    r"给力|点赞|赞|棒|不错|麻烦了",
    "negation": r"不|没|无法|不能|别",
    "question": r"\?|吗|呢|怎么|为什么|为啥|什么|哪|几|多少|是否|能否|可以不",
    "exclaim": r"!",
    "ellipsis": r"\.\.\.|。。|…",
    "repeat_word": r"再说一遍|说了|我说|重复|又|还是",
}
CUE_NAMES = tuple(CUES)
# What the agent did in its last message (for the customer's next turn).
AGENT_CUES: dict[str, str] = {
    "apology": r"抱歉|对不起|不好意思|歉意|给您带来",
    "action": r"帮您|为您|给您|已经|已为|已帮|处理|申请|查询|核实|操作",
    "refusal": r"不能|无法|没办法|不可以|不支持|不行|不了",
    "reason": r"因为|由于|根据|规定|政策|所以",
    "wait": r"稍等|等待|请耐心|耐心等|核实后|尽快",
    "question": r"请问|\?|吗|哪|什么|是否",
    "closing": r"还有其他|还有什么|祝您|再见|评价|满意",
    "empathy": r"理解|明白您|着急|心情|放心|别担心",
    "deflect": r"相关部门|联系商家|咨询商家|联系厂家|找快递|自行联系|不归|不是我们",
}
AGENT_CUE_NAMES = tuple(AGENT_CUES)


def _combined(cues: dict[str, str]) -> re.Pattern[str]:
    # One pass per text: the alternation of all groups, counted by the group that matched.
    return _led_by_first_chars("|".join(f"(?P<{name}>{pat})" for name, pat in cues.items()))


def _led_by_first_chars(pattern: str) -> re.Pattern[str]:
    """`pattern`, led by a look-ahead for the characters a match can start with, when every
    branch starts with a literal or a class of literals. Same matches; `re` skips the other
    positions at once instead of trying every named group's branches there (3× faster here)."""
    # typeshed stubs only the public `re`; these private modules exist on every Python >= 3.11
    from re import _constants as C  # type: ignore[attr-defined]
    from re import _parser  # type: ignore[attr-defined]

    chars: set[str] = set()

    def leads(items) -> bool:  # every way through `items` starts with a character in `chars`
        for op, arg in items:
            if op in (C.ASSERT, C.ASSERT_NOT):
                continue  # zero width: the next item decides
            if op is C.LITERAL:
                chars.add(chr(arg))
                return True
            if op is C.IN and all(o is C.LITERAL for o, _ in arg):
                chars.update(chr(a) for _, a in arg)
                return True
            if op is C.SUBPATTERN:
                return leads(arg[-1])
            if op is C.BRANCH:
                return all(leads(branch) for branch in arg[1])
            return False
        return False

    if not leads(_parser.parse(pattern)):
        return re.compile(pattern)
    return re.compile("(?=[" + "".join(map(re.escape, sorted(chars))) + "])(?:" + pattern + ")")


_CUE_RE = _combined(CUES)
_AGENT_RE = _combined(AGENT_CUES)
_CUE_POS = {name: i for i, name in enumerate(CUES)}
_AGENT_POS = {name: i for i, name in enumerate(AGENT_CUES)}


def _group(m: re.Match[str]) -> str:
    """The name of the cue group that matched: every branch of a `_combined` pattern is one."""
    return cast(str, m.lastgroup)


@lru_cache(maxsize=8192)
def cue_counts(norm: str) -> tuple[int, ...]:
    """Counts of the customer cue groups in a normalised text (non-overlapping, left to right).
    Cached: the dialogue features and the act heads' dense features both count a turn's cues."""
    out = [0] * len(_CUE_POS)
    for m in _CUE_RE.finditer(norm):
        out[_CUE_POS[_group(m)]] += 1
    return tuple(out)


@lru_cache(maxsize=8192)
def agent_cue_counts(norm: str) -> tuple[int, ...]:
    out = [0] * len(_AGENT_POS)
    for m in _AGENT_RE.finditer(norm):
        out[_AGENT_POS[_group(m)]] += 1
    return tuple(out)


def log_counts(counts: tuple[int, ...]) -> list[float]:
    """log1p of each cue count, as the models' features take them: math's log1p (numpy's vectorised one differs
    in the last bit on some CPUs), not called for the zeros most counts are."""
    return [math.log1p(c) if c else 0.0 for c in counts]


def bigram_set(norm: str) -> frozenset[str]:
    s = ngram_text(norm)
    if len(s) < 2:
        return frozenset((s,)) if s else frozenset()
    return frozenset(map(_add, s, s[1:]))


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Overlap coefficient of two bigram sets (1.0 = one contains the other)."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))
