"""HTTP endpoints for the dispatch side: ask for a footage check, push an order's state.

Mount with ``app.include_router(verification_router(...))``. Every call must be signed
(``orderbridge.signing``: ``X-Lianqin-Timestamp`` + ``X-Lianqin-Signature`` over the raw
body) or carry ``Authorization: Bearer <token>``; with neither configured the factory
refuses to build the router (deny by default)."""

from __future__ import annotations

import hmac
import json
from datetime import UTC, datetime
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Header, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from orderbridge.adapters.base import RETRYABLE_STATUS, DeliveryError, retry_after, tls
from orderbridge.config import CallbackAuth
from orderbridge.requests import RequestError, VerificationRequest, VerificationRequests
from orderbridge.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureError, sign, verify
from orderbridge.states import LocalOrders, StateError


class VerificationCall(VerificationRequest):
    callback_url: str | None = Field(
        default=None, max_length=2000,
        description="Where the answer is POSTed (signed) when the check is done; "
        "without it, poll GET /api/bridge/verifications/{request_id}.")


class StatusUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str = Field(min_length=1, max_length=32, description="The order's new state.")
    note: str = Field(default="", max_length=4000)


class HttpReplies:
    """Answers verification requests by a signed POST to their ``callback_url``."""

    def __init__(self, auth: CallbackAuth, *, timeout_s: float = 10.0) -> None:
        self.auth = auth
        self._client = httpx.Client(timeout=timeout_s, verify=tls())

    def send_reply(self, key: str, reply: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps({"type": "verification.answer", "key": key,
                           "sent_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
                           "answer": answer}, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": key}
        if self.auth.secret:
            headers.update(sign(self.auth.secret, body))
        elif self.auth.token:
            headers["Authorization"] = f"Bearer {self.auth.token}"
        try:
            resp = self._client.post(reply["url"], content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"POST {reply['url']}: {type(exc).__name__}: {exc}",
                                retryable=True) from exc
        if resp.status_code >= 300:
            raise DeliveryError(f"POST {reply['url']}: HTTP {resp.status_code}",
                                retryable=resp.status_code in RETRYABLE_STATUS,
                                retry_after_s=retry_after(resp.headers.get("Retry-After")))
        return {"id": answer["request_id"], "status": answer["state"]}

    def close(self) -> None:
        self._client.close()


def authenticator(auth: CallbackAuth):  # noqa: ANN201 - a FastAPI dependency
    if not auth.secret and not auth.token:
        raise ValueError("bridge.callbacks needs a secret or a token: the endpoints would be open")

    async def authenticate(
        request: Request,
        timestamp: Annotated[str | None, Header(alias=TIMESTAMP_HEADER)] = None,
        signature: Annotated[str | None, Header(alias=SIGNATURE_HEADER)] = None,
        authorization: Annotated[str | None, Header()] = None,
    ) -> None:
        if auth.token and authorization and authorization.startswith("Bearer "):
            if hmac.compare_digest(authorization[7:].encode(), auth.token.encode()):
                return
            raise HTTPException(401, "wrong bearer token")
        if auth.secret:
            try:
                verify(auth.secret, await request.body(), timestamp, signature,
                       tolerance_s=auth.tolerance_s)
            except SignatureError as exc:
                raise HTTPException(401, str(exc)) from None
            return
        raise HTTPException(401, "send Authorization: Bearer <token>")

    return authenticate


def verification_router(requests: VerificationRequests | None, auth: CallbackAuth, *,
                        states: LocalOrders | None = None) -> APIRouter:
    """``POST /api/bridge/verifications``, ``GET /api/bridge/verifications/{id}`` (when
    ``requests`` is given) and ``POST /api/bridge/orders/{order_id}/status`` (when
    ``states`` is given: targets that report states by callback, i.e. webhook)."""
    router = APIRouter(prefix="/api/bridge", tags=["bridge"],
                       dependencies=[Depends(authenticator(auth))])

    if requests is not None:
        @router.post("/verifications", status_code=202)
        def request_verification(body: VerificationCall) -> dict[str, Any]:
            """Ask for a footage check; the answer comes to ``callback_url`` or by polling."""
            reply = ({"channel": "http", "url": body.callback_url} if body.callback_url
                     else {"channel": "none"})
            try:
                started = requests.submit(body.model_dump(exclude={"callback_url"}), reply)
            except RequestError as exc:
                raise HTTPException(404 if "patrolled" in str(exc) else 422, str(exc)) from None
            return {**started, "status_url": f"/api/bridge/verifications/{started['request_id']}"}

        @router.get("/verifications/{request_id}")
        def get_verification(request_id: str) -> dict[str, Any]:
            answer = requests.answer(request_id)
            if answer is None:
                raise HTTPException(404, f"no verification {request_id}")
            return answer

    if states is not None:
        @router.post("/orders/{order_id}/status")
        def update_status(order_id: str, body: StatusUpdate) -> dict[str, Any]:
            """The dispatch side reports an order's new state."""
            try:
                changed = states.apply(order_id, body.status)
            except StateError as exc:
                raise HTTPException(422, str(exc)) from None
            if not changed:
                try:
                    states.order(order_id)
                except StateError:
                    raise HTTPException(404, f"no order {order_id}") from None
            return {"id": order_id, "status": states.normalise(body.status), "changed": changed}

    return router
