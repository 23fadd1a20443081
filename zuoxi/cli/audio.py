"""Call recordings: `zuoxi audio` measures one, `zuoxi transcribe` turns one into a transcript."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from zuoxi.cli.app import app, err, inert_json, out
from zuoxi.ingest import IngestError
from zuoxi.report import terminal

DiarizationDir = Annotated[
    Path | None,
    typer.Option(
        "--diarization-dir",
        help="Mono calls: a local sherpa-onnx speaker-diarization folder (segmentation + embedding model; never downloaded)",
    ),
]
CustomerFirst = Annotated[
    bool, typer.Option("--customer-first", help="Diarization: the first speaker is the customer (default: the agent)")
]


@app.command()
def audio(
    file: Annotated[Path, typer.Argument(help="A call recording: WAV, FLAC, OGG or MP3, mono or stereo")],
    transcript: Annotated[
        Path | None, typer.Option(help="Its transcript (any input format; the first conversation is used)")
    ] = None,
    channels: Annotated[
        str | None,
        typer.Option(
            help="Stereo layout, e.g. agent,customer (default: the transcript's meta.audio_channels, else agent,customer)"
        ),
    ] = None,
    format: Annotated[str, typer.Option("--format", help="table or json")] = "table",
    diarization_dir: DiarizationDir = None,
    customer_first: CustomerFirst = False,
) -> None:
    """Measure a recording: speech, volume, dead air, interruptions, latency, hang-up gap (docs/audio.md)."""
    from zuoxi.audio import AudioError, analyze_file
    from zuoxi.audio.diarize import load_diarizer
    from zuoxi.audio.transcribe import ModelError
    from zuoxi.ingest import read_file

    if format not in ("table", "json"):
        raise typer.BadParameter("--format must be table or json")
    conversation = None
    if transcript is not None:
        conversation = next((r for r in read_file(transcript) if not isinstance(r, IngestError)), None)
        if conversation is None:
            err.print(f"{transcript}: no conversation could be read", highlight=False)
            raise typer.Exit(1)
    layout = channels.split(",") if channels else conversation.meta.get("audio_channels") if conversation else None
    try:
        diarizer = load_diarizer(diarization_dir) if diarization_dir else None
        analysis = analyze_file(file, layout, conversation.turns if conversation else [], diarizer, not customer_first)
    except (AudioError, ModelError) as error:
        err.print(Text.assemble(("audio error", "red"), f" {error}"), highlight=False)
        raise typer.Exit(1) from None
    summary = analysis.summary()
    if format == "json":
        sys.stdout.write(inert_json(json.dumps(summary, ensure_ascii=False)) + "\n")
        return
    terminal.audio_summary(out, summary)


@app.command()
def transcribe(
    file: Annotated[
        Path,
        typer.Argument(
            help="A call recording: stereo (agent and customer on separate channels), or mono with --diarization-dir"
        ),
    ],
    model_dir: Annotated[
        Path, typer.Option("--model-dir", help="A local sherpa-onnx offline model directory (never downloaded)")
    ],
    model_type: Annotated[str, typer.Option(help="auto, paraformer, sense_voice or transducer")] = "auto",
    channels: Annotated[str, typer.Option(help="Stereo layout, e.g. agent,customer")] = "agent,customer",
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write the JSON line here instead of standard output")
    ] = None,
    threads: Annotated[int, typer.Option(help="ASR threads")] = 1,
    diarization_dir: DiarizationDir = None,
    customer_first: CustomerFirst = False,
) -> None:
    """Transcribe a call with sherpa-onnx into canonical JSON Lines with times and speakers (docs/audio.md)."""
    import os

    from zuoxi.audio import AudioError, read_audio
    from zuoxi.audio.diarize import load_diarizer
    from zuoxi.audio.transcribe import MODEL_TYPES, ModelError, find_model, load_recognizer
    from zuoxi.audio.transcribe import transcribe as run_asr

    if model_type not in MODEL_TYPES:
        raise typer.BadParameter(f"--model-type must be one of {', '.join(MODEL_TYPES)}")
    try:
        recording = read_audio(file)  # a bad recording is said before the models take seconds to load
        recognizer = load_recognizer(find_model(model_dir, model_type), threads)
        diarizer = load_diarizer(diarization_dir, threads) if diarization_dir else None
        conversation = run_asr(
            recording, recognizer, channels.split(","), diarizer=diarizer, agent_first=not customer_first
        )
    except (ModelError, AudioError) as error:
        err.print(Text.assemble(("transcribe error", "red"), f" {error}"), highlight=False)
        raise typer.Exit(1) from None
    if out_file:
        conversation.audio = os.path.relpath(file.resolve(), out_file.resolve().parent)
        out_file.write_text(inert_json(conversation.model_dump_json(exclude_none=True)) + "\n", encoding="utf-8")
        err.print(f"transcript: {out_file.resolve()} ({len(conversation.turns)} turns)", highlight=False)
    else:
        sys.stdout.write(inert_json(conversation.model_dump_json(exclude_none=True)) + "\n")
