"""Models the server makes at start, before its workers load them: today the int8 object model
(`[vision] object_precision`, app/vision/quantized.py), made in a process of its own the first
time and read from `[vision] model_cache` after that."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Literal

import anyio
import msgspec

from app.settings.vision import VisionConfig
from app.vision.models import object_model_path
from app.vision.parent_death import owned_worker, sigint_ignored
from app.vision.quantized import int8_model, made_before

log = logging.getLogger("vigil.vision")


Precision = Literal["int8", "fp32"]


async def worker_config(config: VisionConfig) -> tuple[VisionConfig, Precision]:
    """The config the workers load (its `object_model` the int8 file when there is one), and
    the object model's precision in use: "int8", or "fp32" when asked or when quantising failed
    (logged with why; the server runs on rather than go without objects)."""
    if config.object_precision == "fp32":
        return config, "fp32"
    source = object_model_path(config.object_model)
    cache = Path(config.model_cache)
    made = await anyio.to_thread.run_sync(made_before, source, cache, config.object_input)
    if made is None:
        log.info("vision: quantising %s to int8 into %s (once)", source.name, cache)
        try:
            made = await _in_own_process(source, cache, config.object_input)
        except Exception as exc:  # a broken or unusual model: fp32 still finds objects
            log.error(
                "vision: the object model %s could not be quantised (%r); it runs in fp32. "
                'Set [vision] object_precision = "fp32" to skip trying.',
                source,
                exc,
            )
            return config, "fp32"
    return msgspec.structs.replace(config, object_model=str(made)), "int8"


async def _in_own_process(source: Path, cache: Path, size: tuple[int, int]) -> Path:
    """onnx and the quantiser stay out of the server's memory: a spawned process does it."""
    with sigint_ignored():
        pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=owned_worker,
            initargs=(os.getpid(),),
        )
    try:
        future = asyncio.get_running_loop().run_in_executor(pool, int8_model, source, cache, size)
        return await future
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(lambda: pool.shutdown(wait=True, cancel_futures=True))
