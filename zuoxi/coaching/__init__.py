"""Typical cases and the training simulator (陪练), after seed 003: replay, guided analysis, drill.

`cases.py` (what a case is), `library.py` (search, candidates, promotion, attempts),
`simulator.py` (the simulated customer), `llm.py` (optional LLM wording), `terminal.py` (`zuoxi train`).
"""
