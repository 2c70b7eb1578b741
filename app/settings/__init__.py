"""Typed settings: config.toml, then VIGIL_<SECTION>_<KEY> environment overrides, then frozen."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import msgspec

from actors.alert_rules import AlertsConfig
from actors.config import NonNegative, Positive, ScoringConfig, Seconds, SessionsConfig
from app.settings.audio import AudioSettings
from app.settings.behaviour import BehaviourSettings
from app.settings.screen import ScreenSettings
from app.settings.vision import VisionConfig
from app.settings.webhooks import WebhooksSettings

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent.parent / "config.toml"
ENV_PREFIX = "VIGIL_"
# Secrets read from the environment only, never from config.toml (app/storage/sealing/data_keys.py).
MASTER_KEY_ENV: Final = "VIGIL_MASTER_KEY"
MASTER_KEY_FILE_ENV: Final = "VIGIL_MASTER_KEY_FILE"
RETIRED_KEYS_ENV: Final = "VIGIL_RETIRED_MASTER_KEYS"
ENV_NOT_SETTINGS = frozenset({MASTER_KEY_ENV, MASTER_KEY_FILE_ENV, RETIRED_KEYS_ENV})
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
Rate = Annotated[float, msgspec.Meta(ge=0)]


class ConfigError(Exception):
    """A config value is missing, unknown or of the wrong type; the message names its path."""


class ServerSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: Port = 8000
    # Names this node; when set, it also prefixes the ids of the sessions it creates.
    node_id: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._-]{0,64}$")] = ""
    # This node's own address as clients and the other nodes reach it directly
    # ("https://a.exam.example"), announced to the cluster: a candidate socket or session
    # request that reaches another node is sent here (docs/operations.md). "": the
    # listening address, http://host:port.
    public_url: Annotated[str, msgspec.Meta(pattern=r"^(https?://[^/?#\s]+)?$")] = ""
    ws_per_message_deflate: bool = False
    max_body_bytes: Positive = 1024 * 1024
    shutdown_grace_seconds: Seconds = 10.0
    # The cyclic garbage collector by the clock (app/process/gc_pacer.py): the young generation this
    # often (0: Python's own schedule instead), and everything this often.
    gc_young_seconds: Annotated[float, msgspec.Meta(ge=0, le=60)] = 0.1
    gc_full_seconds: Seconds = 3600.0
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    # Browsers may open sockets only from these origins ("https://exam.example.edu"); empty: any.
    allowed_origins: list[str] = []
    # Client addresses are taken from X-Forwarded-For only on connections from these (a proxy).
    forwarded_allow_ips: list[str] = msgspec.field(default_factory=lambda: ["127.0.0.1", "::1"])


class StorageSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    dir: str = "var"
    synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    journal_queue_size: Positive = 20000
    journal_max_batch: Positive = 2000
    # Group commit: a transaction starts at most this often (0: as soon as the last one ended).
    commit_interval_ms: Annotated[float, msgspec.Meta(ge=0, le=100)] = 3.0
    # Page cache of the journal's connection: the per-session index pages every commit touches.
    cache_mb: Annotated[int, msgspec.Meta(ge=2, le=4096)] = 64
    # A live session's stored state is written with its events at most this often, unless what
    # lists filter on changed (actors/stored_state.py). 0: with every event.
    state_interval_seconds: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 10.0


TokenHash = Annotated[str, msgspec.Meta(pattern=r"^sha256:[0-9a-f]{64}$")]


class AuthSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    admin_token: str = ""
    admin_token_hashes: list[TokenHash] = []
    reviewer_token_hashes: list[TokenHash] = []
    candidate_token_grace_seconds: Annotated[float, msgspec.Meta(ge=0)] = 3600.0
    # Signs media links (webcam frames); "" keeps a random key in <storage>/url-signing-key.
    url_signing_key: Annotated[str, msgspec.Meta(pattern=r"^$|^.{32,}$")] = ""
    media_url_seconds: Annotated[int, msgspec.Meta(ge=10, le=86_400)] = 900


DEFAULT_CONSENT_TEXT: Final = (
    "This assessment is proctored. While you take it, this page records what you do in it "
    "(your answers, switching tabs or windows, copying and pasting, leaving full screen) and "
    "how your answers are entered: the rhythm of your typing, how many characters you type or "
    "paste, how far and how straight the pointer moves, and input made by a program rather "
    "than by you; never which keys you press or what you type or paste. It also records a "
    "picture from your webcam every few seconds, and, where the assessment asks for them, your "
    "microphone and your screen. The pictures are analysed to check that you are alone and "
    "that it is you, compared with your reference photo if one was taken. The institution that "
    "set the assessment keeps this record {kept} and reviews it; you may ask it to show you "
    "the record or to erase it."
)


class CandidateSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    max_event_bytes: Positive = 65536
    max_frame_bytes: Positive = 512 * 1024
    outbox_size: Positive = 64
    # What the system check asks the candidate to consent to (vigil.check()); "{kept}" becomes
    # how long the record is kept ([retention] completed_session_days).
    consent_text: Annotated[str, msgspec.Meta(min_length=1, max_length=4000)] = DEFAULT_CONSENT_TEXT


class AdminSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    outbox_size: Positive = 4096
    max_subscriptions: NonNegative = 1000


class LimitsSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    candidate_requests_per_second: Rate = 20.0
    candidate_burst: Positive = 60
    admin_requests_per_second: Rate = 0.0
    admin_burst: Positive = 1000
    # Requests without a token (POST /demo/sessions), per client address.
    anonymous_requests_per_minute: Rate = 10.0
    anonymous_burst: Positive = 5
    # Text events per candidate socket; more are refused with rate_limited, not stored.
    candidate_events_per_second: Rate = 100.0
    candidate_events_burst: Positive = 500
    # Open sockets (candidate and admin) per client address; 0: no limit.
    max_sockets_per_address: NonNegative = 0
    # Text events of all the candidate sockets of one client address together; 0: no limit.
    address_events_per_second: Rate = 0.0
    address_events_burst: Positive = 2000


class RetentionSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # Finished sessions (and their frames) are erased this many days after they finished;
    # 0 keeps them until erased by hand (DELETE /candidate-sessions/:id).
    completed_session_days: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    check_interval_seconds: Seconds = 3600.0


class DemoSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # /demo and POST /demo/sessions: anyone who reaches the server can open a demo session.
    enabled: bool = True
    # The demo assessment's alert rules (actors/exam_policy.py): "standard" warns and pauses.
    escalation: Literal["global", "standard", "none"] = "standard"


class KafkaSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    bootstrap_servers: str = ""
    topic: str = "assessment_activity"
    partitions: Positive = 12
    replication_factor: Positive = 1
    # Consume the topic to show sessions hosted by other nodes to this node's admins.
    cluster: bool = True
    publish_batch: Positive = 2000
    publish_interval_ms: NonNegative = 20
    linger_ms: NonNegative = 5
    request_timeout_ms: Positive = 10000
    enable_idempotence: bool = False
    state_cache_sessions: Positive = 10000
    cluster_sessions: Positive = 200_000
    fetch_max_wait_ms: NonNegative = 100
    # The cluster's own topic (docs/architecture.md): node heartbeats, sessions created, and one
    # small state per session at most every `summary_interval_seconds`; one partition, so each
    # node's records stay in the order it wrote them.
    cluster_topic: str = "vigil_cluster"
    summary_interval_seconds: Annotated[float, msgspec.Meta(ge=0.05, le=60)] = 1.0
    heartbeat_seconds: Annotated[float, msgspec.Meta(ge=0.05, le=60)] = 1.0
    # A node silent for this long shows as unreachable on every dashboard.
    node_timeout_seconds: Annotated[float, msgspec.Meta(ge=0.2, le=600)] = 3.0
    # A subscription to a session this node does not know yet waits at most this long for the
    # cluster topic to catch up (the creation is on it before the creator answers).
    subscribe_wait_seconds: Annotated[float, msgspec.Meta(ge=0, le=60)] = 5.0


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    server: ServerSettings = ServerSettings()
    storage: StorageSettings = StorageSettings()
    auth: AuthSettings = AuthSettings()
    sessions: SessionsConfig = SessionsConfig()
    candidate: CandidateSettings = CandidateSettings()
    admin: AdminSettings = AdminSettings()
    scoring: ScoringConfig = ScoringConfig()
    limits: LimitsSettings = LimitsSettings()
    kafka: KafkaSettings = KafkaSettings()
    alerts: AlertsConfig = AlertsConfig()
    demo: DemoSettings = DemoSettings()
    vision: VisionConfig = VisionConfig()
    retention: RetentionSettings = RetentionSettings()
    webhooks: WebhooksSettings = WebhooksSettings()
    audio: AudioSettings = AudioSettings()
    screen: ScreenSettings = ScreenSettings()
    behaviour: BehaviourSettings = BehaviourSettings()

    @property
    def storage_dir(self) -> Path:
        return Path(self.storage.dir)


_SECTIONS: dict[str, type[msgspec.Struct]] = {
    name: field.type
    for name, field in zip(
        Settings.__struct_fields__, msgspec.structs.fields(Settings), strict=True
    )
}


def load_settings(
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Settings:
    """Read `config_file` (default: the repo's config.toml), apply the environment, validate."""
    path = config_file or DEFAULT_CONFIG
    try:
        raw: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist; pass --config FILE") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    layers = [*_environment_overrides(os.environ if environ is None else environ)]
    layers.extend((overrides or {}).items())
    for section, values in layers:
        raw.setdefault(section, {}).update(values)
    try:
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(
            f"invalid configuration ({path} and VIGIL_* environment): {exc}"
        ) from None
    except ValueError as exc:
        raise ConfigError(f"invalid configuration: {exc}") from None


def _environment_overrides(environ: Mapping[str, str]) -> list[tuple[str, Mapping[str, Any]]]:
    found: dict[str, dict[str, Any]] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name in ENV_NOT_SETTINGS:
            continue
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("_")
        fields = _SECTIONS.get(section)
        if fields is None or key not in fields.__struct_fields__:
            raise ConfigError(
                f"unknown setting {name}: expected VIGIL_<SECTION>_<KEY> naming a key of "
                f"config.toml (sections: {', '.join(sorted(_SECTIONS))})"
            )
        found.setdefault(section, {})[key] = _environment_value(name, value)
    return list(found.items())


def _environment_value(name: str, value: str) -> Any:
    """A list is written as in TOML (`VIGIL_VISION_OBJECT_INPUT="[320, 256]"`); anything else
    stays a string for msgspec to convert to the key's type."""
    if not value.lstrip().startswith("["):
        return value
    try:
        return tomllib.loads(f"value = {value}")["value"]
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{name} = {value!r} is not a TOML list ({exc}); write it as in config.toml, "
            'for example "[320, 256]"'
        ) from None
