"""Configuration of the order bridge: where orders go (one adapter, chosen by ``type``),
how delivery is retried, which events raise orders, and the MQTT event stream."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from vision.types import EventKind


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EmbeddedTarget(_Strict):
    """The embedded dispatch core, reached over HTTP like any external one."""

    type: Literal["embedded"] = "embedded"
    url: str | None = Field(
        default=None,
        description="Base URL of its API; default: this service's own /api/dispatch.",
    )
    timeout_s: float = Field(default=10.0, gt=0, le=120, description="HTTP timeout per request.")


class WebhookTarget(_Strict):
    """Any HTTP endpoint: a signed JSON POST per order, verdict and verification start."""

    type: Literal["webhook"] = "webhook"
    url: str = Field(description="Where the JSON messages are POSTed.")
    secret: str = Field(min_length=16, description="Shared HMAC-SHA256 key (use ${ENV_VAR}).")
    timeout_s: float = Field(default=10.0, gt=0, le=120, description="HTTP timeout per request.")
    fields: dict[str, str | None] = Field(
        default_factory=dict,
        description="Rename order fields for the receiver: our dotted name → theirs "
        "(e.g. location.lat: geo.latitude); null drops the field.",
    )
    static: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Constant fields added to every order (e.g. a channel code).")
    response_id: str = Field(default="id", description="Field of the receiver's answer that holds "
                             "its order id (dotted); absent: our idempotency key is the id.")
    response_status: str = Field(default="status",
                                 description="Field of the answer that holds the order status.")
    status_map: dict[str, str] = Field(
        default_factory=dict, description="The receiver's status words → ours (e.g. 已办结: closed).")


class BrokerConfig(_Strict):
    """How to reach an MQTT 5 broker; shared by the MQTT target and the event stream."""

    host: str = Field(default="127.0.0.1", description="Broker host.")
    port: int = Field(default=1883, ge=1, le=65535, description="Broker port.")
    username: str | None = Field(default=None, description="Broker user.")
    password: str | None = Field(default=None, description="Broker password (use ${ENV_VAR}).")
    tls: bool = Field(default=False, description="TLS to the broker (port 8883 as a rule).")
    ca_file: str | None = Field(default=None, description="CA bundle for the broker's certificate; "
                                "default: the system's.")
    prefix: str = Field(default="lianqin", min_length=1, description="First level of every topic.")

    def connection_args(self, client_id: str) -> dict[str, object]:
        """The broker part of :class:`~orderbridge.mqttclient.MqttConnection`'s arguments."""
        return {"host": self.host, "port": self.port, "client_id": client_id,
                "username": self.username, "password": self.password, "tls": self.tls,
                "ca_file": self.ca_file}


class MqttTarget(BrokerConfig):
    """An MQTT 5 broker between us and the dispatch side (QoS 1, persistent session)."""

    type: Literal["mqtt"] = "mqtt"
    client_id: str = Field(default="lianqin-bridge", min_length=1, max_length=64,
                           description="Client id; unique per bridge process.")
    keepalive_s: int = Field(default=30, ge=5, le=3600, description="MQTT keep-alive.")
    timeout_s: float = Field(default=10.0, gt=0, le=120,
                             description="How long a publish may wait for the broker's PUBACK.")
    message_expiry_s: int | None = Field(
        default=86400, ge=1, le=30 * 86400,
        description="MQTT 5 message expiry of orders queued for an offline dispatch side.")
    status_map: dict[str, str] = Field(
        default_factory=dict, description="The dispatch side's status words → ours.")


class Open311Target(_Strict):
    """A GeoReport v2 (Open311) endpoint: one service request per order, polled for status."""

    type: Literal["open311"] = "open311"
    url: str = Field(description="Endpoint base, e.g. https://city.example/open311/v2.")
    api_key: str | None = Field(default=None, description="api_key for POST (use ${ENV_VAR}).")
    jurisdiction_id: str | None = Field(default=None, description="Sent when the endpoint serves several.")
    format: Literal["json", "xml"] = Field(default="json", description="requests.json or requests.xml.")
    service_codes: dict[EventKind, str] = Field(
        description="service_code per event kind (see GET services.json of the endpoint).")
    timeout_s: float = Field(default=10.0, gt=0, le=120, description="HTTP timeout per request.")
    open_status: str = Field(default="dispatched", description="Our state for an open request.")
    closed_status: str = Field(
        default="feedback_received",
        description="Our state for a closed request: disposal reported, footage check next.")
    status_notes: dict[str, str] = Field(
        default_factory=lambda: {"未处置": "not_disposed", "不予受理": "copied",
                                 "转": "copied", "退回": "redo"},
        description="status_notes containing this text → our state (checked in order, before "
        "open/closed).")


Target = Annotated[EmbeddedTarget | WebhookTarget | MqttTarget | Open311Target,
                   Field(discriminator="type")]


class RetryConfig(_Strict):
    base_s: float = Field(default=1.0, gt=0, le=60, description="First retry delay.")
    max_s: float = Field(default=60.0, gt=0, le=3600, description="Longest retry delay.")


class IntakeRule(_Strict):
    """Acceptance per kind (standard 6.2.1.1): sure → order, unclear → operator, noise → drop."""

    auto_min_confidence: float = Field(
        ge=0, le=1.01, description="At or above: an order is raised at once (1.01: never).")
    review_min_confidence: float = Field(
        default=0.0, ge=0, le=1, description="Below: the event is dropped (kept, no order, not "
        "in the review queue); between the two it waits for an operator.")

    @model_validator(mode="after")
    def _ordered(self) -> IntakeRule:
        if self.review_min_confidence > self.auto_min_confidence:
            raise ValueError("review_min_confidence must not exceed auto_min_confidence")
        return self


class CallbackAuth(_Strict):
    """How the dispatch side authenticates its calls to us (verification requests, status)."""

    secret: str | None = Field(default=None, min_length=16,
                               description="HMAC-SHA256 key for signed requests (use ${ENV_VAR}).")
    token: str | None = Field(default=None, min_length=16,
                              description="Bearer token, for peers that cannot sign.")
    tolerance_s: int = Field(default=300, ge=10, le=3600,
                             description="How old a signed request's timestamp may be.")


class EventStreamConfig(BrokerConfig):
    """Frigate-style MQTT event stream: lianqin/events, camera status, per-zone counts."""

    enabled: bool = Field(default=False, description="Publish events to an MQTT broker.")
    client_id: str = Field(default="lianqin-events", min_length=1, max_length=64,
                           description="Client id of the publisher.")
    status_interval_s: float = Field(default=5.0, gt=0, le=300,
                                     description="How often camera states are checked for changes.")


class BridgeConfig(_Strict):
    enabled: bool = Field(default=True, description="Deliver orders and run verifications.")
    target: Target = Field(default_factory=EmbeddedTarget)
    evidence_base_url: str | None = Field(
        default=None,
        description="URL prefix under which the dispatch side can fetch evidence files; "
        "default: this service's own /evidence.",
    )
    poll_interval_s: float = Field(default=1.0, gt=0, le=300,
                                   description="How often the outbox and order states are checked "
                                   "(new events wake the bridge at once).")
    status_poll_s: float = Field(default=5.0, gt=0, le=3600,
                                 description="How often order states are fetched from a target "
                                 "that does not push them (embedded, Open311).")
    retry: RetryConfig = Field(default_factory=RetryConfig)
    verify: bool = Field(default=True,
                         description="Verify reported disposals against fresh footage (6.3).")
    intake: dict[EventKind, IntakeRule] = Field(
        default_factory=dict,
        description="Per kind: auto / review / drop thresholds for events waiting for review.")
    callbacks: CallbackAuth = Field(default_factory=CallbackAuth)
    events: EventStreamConfig = Field(default_factory=EventStreamConfig)
