"""Write `sample_predictions.jsonl`: the committed models' predictions of the bundled samples.

tests/test_models.py compares every prediction path with this file, so a change that moves a
prediction is seen. Regenerate it only after retraining the models on purpose (and checking the
eval figures): `python tests/golden/make_sample_predictions.py`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from zuoxi.analyze.models import load_models
from zuoxi.analyze.models.runtime import ARTEFACTS
from zuoxi.ingest import read_paths
from zuoxi.model import Conversation

HERE = Path(__file__).resolve().parent
SAMPLES = HERE.parent.parent / "samples"
GOLDEN = HERE / "sample_predictions.jsonl"


def artefact_digest() -> str:
    return hashlib.sha256((ARTEFACTS / "models.npz").read_bytes()).hexdigest()


def sample_conversations() -> list[Conversation]:
    return [record for _, record in read_paths([SAMPLES]) if isinstance(record, Conversation)]


def main() -> None:
    models = load_models()
    lines = [json.dumps({"models_npz_sha256": artefact_digest()})]
    lines += [
        json.dumps(models.predict(c).model_dump(), ensure_ascii=False, sort_keys=True) for c in sample_conversations()
    ]
    GOLDEN.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
