"""Review queues and complaint alerts (docs/queues.md): which conversations people review, who
reviews them, by when, and who is told at once when a customer threatens to complain.

- `plans`: sampling plans as YAML, validated, with a registry of targeted criteria (`@criterion`);
- `sampling`: a run over a period — the uniform random share, the targeted rules, quotas — stored
  as queue items that record the plan rule that chose them;
- `assignment`: round robin or by workload (`@method`), never the conversation's own team or the
  agent's appeal handler; due dates;
- `items`: finishing (after the usual confirm/overturn), skipping with a reason, reassigning;
- `precision`: rule precision from the random share (with a Wilson interval) and from the targeted picks;
- `alerts`: 投诉预警 raised as analyses are stored, and webhooks (WeCom, DingTalk, JSON) with retries;
- `worker`: what the web app does in the background (deliveries, scheduled runs); `cli`: `zuoxi queue`.
"""
