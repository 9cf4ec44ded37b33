"""Live updates for the console: server-sent events from the patrol event bus."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from api.auth.deps import ANYONE
from api.context import ContextDep

router = APIRouter(tags=["live"])
KEEPALIVE_S = 15.0  # a comment line keeps proxies from closing an idle stream
QUEUE_MAX = 1000  # a browser that stops reading loses updates, not memory


@router.get("/api/stream", dependencies=[Depends(ANYONE)],
            responses={200: {"content": {"text/event-stream": {}}}})
async def stream(request: Request, ctx: ContextDep) -> StreamingResponse:
    """``text/event-stream``: ``event: events`` with ``{"topic", "id", ...}`` for each new,
    updated or ended event, as the camera workers publish them."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(QUEUE_MAX)

    def on_bus(topic: str, message: dict[str, Any]) -> None:  # camera threads
        loop.call_soon_threadsafe(_offer, queue, (topic, message))

    unsubscribe = ctx.patrol.bus.subscribe("events/", on_bus) if ctx.patrol else (lambda: None)

    async def body() -> AsyncIterator[str]:
        try:
            yield "retry: 2000\n\n"
            idle = 0.0
            while not ctx.shutdown.is_set() and not await request.is_disconnected():
                try:
                    topic, message = await asyncio.wait_for(queue.get(), 1.0)
                except TimeoutError:
                    idle += 1.0
                    if idle >= KEEPALIVE_S:
                        idle = 0.0
                        yield ": keepalive\n\n"
                    continue
                idle = 0.0
                yield f"event: events\ndata: {json.dumps({'topic': topic, **message})}\n\n"
        finally:
            unsubscribe()

    return StreamingResponse(body(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def _offer(queue: asyncio.Queue, item: tuple[str, dict[str, Any]]) -> None:
    if not queue.full():
        queue.put_nowait(item)
