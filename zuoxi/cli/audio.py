"""Call recordings: `zuoxi audio` measures one, `zuoxi transcribe` turns one into a transcript."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from zuoxi.cli.app import app, err, inert_json, out, say_error
from zuoxi.ingest import IngestError
from zuoxi.report import terminal

DiarizationDir = Annotated[
    Path | None,
    typer.Option(
        "--diarization-dir",
        help="单声道通话：本地 sherpa-onnx 说话人分离模型文件夹（分段模型 + 声纹模型；不会自动下载）",
    ),
]
CustomerFirst = Annotated[bool, typer.Option("--customer-first", help="说话人分离：第一个说话的是客户（默认是坐席）")]


@app.command()
def audio(
    file: Annotated[Path, typer.Argument(metavar="录音", help="通话录音：WAV、FLAC、OGG 或 MP3，单声道或立体声")],
    transcript: Annotated[Path | None, typer.Option(help="它的转写文本（任意输入格式；取第一个会话）")] = None,
    channels: Annotated[
        str | None,
        typer.Option(
            help="立体声各声道是谁，如 agent,customer（默认：转写文本的 meta.audio_channels，否则 agent,customer）"
        ),
    ] = None,
    format: Annotated[str, typer.Option("--format", help="输出格式：table 或 json")] = "table",
    diarization_dir: DiarizationDir = None,
    customer_first: CustomerFirst = False,
) -> None:
    """测量一段录音：说话时长、音量、静音、抢话、响应延迟、挂机间隔（见 docs/audio.md）。"""
    from zuoxi.audio import AudioError, analyze_file
    from zuoxi.audio.diarize import load_diarizer
    from zuoxi.audio.transcribe import ModelError
    from zuoxi.ingest import read_file

    if format not in ("table", "json"):
        raise typer.BadParameter("--format 只能是 table 或 json")
    conversation = None
    if transcript is not None:
        conversation = next((r for r in read_file(transcript) if not isinstance(r, IngestError)), None)
        if conversation is None:
            err.print(f"{transcript}: 读不出任何会话", highlight=False)
            raise typer.Exit(1)
    layout = channels.split(",") if channels else conversation.meta.get("audio_channels") if conversation else None
    try:
        diarizer = load_diarizer(diarization_dir) if diarization_dir else None
        analysis = analyze_file(file, layout, conversation.turns if conversation else [], diarizer, not customer_first)
    except (AudioError, ModelError) as error:
        say_error(str(error), "录音错误")
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
        typer.Argument(metavar="录音", help="通话录音：立体声（坐席和客户各占一个声道），或单声道加 --diarization-dir"),
    ],
    model_dir: Annotated[Path, typer.Option("--model-dir", help="本地 sherpa-onnx 离线识别模型目录（不会自动下载）")],
    model_type: Annotated[str, typer.Option(help="模型类型：auto、paraformer、sense_voice 或 transducer")] = "auto",
    channels: Annotated[str, typer.Option(help="立体声各声道是谁，如 agent,customer")] = "agent,customer",
    out_file: Annotated[Path | None, typer.Option("--out", help="把 JSON 行写到这个文件，而不是标准输出")] = None,
    threads: Annotated[int, typer.Option(help="语音识别线程数")] = 1,
    diarization_dir: DiarizationDir = None,
    customer_first: CustomerFirst = False,
) -> None:
    """用 sherpa-onnx 把通话转写成带时间和说话人的标准 JSON Lines（见 docs/audio.md）。"""
    import os

    from zuoxi.audio import AudioError, read_audio
    from zuoxi.audio.diarize import load_diarizer
    from zuoxi.audio.transcribe import MODEL_TYPES, ModelError, find_model, load_recognizer
    from zuoxi.audio.transcribe import transcribe as run_asr

    if model_type not in MODEL_TYPES:
        raise typer.BadParameter(f"--model-type 只能是 {'、'.join(MODEL_TYPES)} 之一")
    try:
        recording = read_audio(file)  # a bad recording is said before the models take seconds to load
        recognizer = load_recognizer(find_model(model_dir, model_type), threads)
        diarizer = load_diarizer(diarization_dir, threads) if diarization_dir else None
        conversation = run_asr(
            recording, recognizer, channels.split(","), diarizer=diarizer, agent_first=not customer_first
        )
    except (ModelError, AudioError) as error:
        say_error(str(error), "转写错误")
        raise typer.Exit(1) from None
    if out_file:
        conversation.audio = os.path.relpath(file.resolve(), out_file.resolve().parent)
        out_file.write_text(inert_json(conversation.model_dump_json(exclude_none=True)) + "\n", encoding="utf-8")
        err.print(f"转写：{out_file.resolve()}（{len(conversation.turns)} 句）", highlight=False)
    else:
        sys.stdout.write(inert_json(conversation.model_dump_json(exclude_none=True)) + "\n")
