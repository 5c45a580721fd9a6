"""Server settings, read once from the environment (ANDELSTAL_*), with development defaults.

Production (ANDELSTAL_ENV=production) refuses the development secret and has no debug routes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEV_SECRET = "development-only-secret"  # noqa: S105 - refused outside development, see check()


class SettingsError(RuntimeError):
    """The settings cannot run a server safely; the message says which variable and why."""


def _float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if value <= 0:
        raise SettingsError(f"{name}={raw!r} must be more than 0")
    return value


def _int(env: dict[str, str], name: str, default: int) -> int:
    value = _float(env, name, default)
    if value != int(value):
        raise SettingsError(f"{name}={value} must be a whole number")
    return int(value)


@dataclass(frozen=True)
class Settings:
    environment: str = "development"
    database_url: str = "sqlite:///var/andelstal.db"
    secret: str = DEV_SECRET
    max_body_bytes: int = 256 * 1024  # a full wish set of 290 rows is about 25 kB
    max_time_limit_s: float = 5.0  # the most solver work a request may ask for (CP-SAT deterministic seconds)
    sync_time_limit_s: float = 5.0  # what-if requests up to this limit are answered directly, longer ones are jobs
    solve_workers: int = field(default_factory=lambda: max(1, os.cpu_count() or 1))  # what-ifs (interactive)
    batch_workers: int = field(default_factory=lambda: max(1, (os.cpu_count() or 1) // 2))  # jobs and simulations
    batch_per_token: int = 2  # batch jobs (proposals, simulations, sweeps) a token may have queued or running
    cache_entries: int = 256  # what-if answers kept (the solver is deterministic, so equal inputs give equal answers)
    sync_simulation_children: int = 5_000_000  # simulations of up to this many simulated children are answered directly
    max_simulation_children: int = 100_000_000  # the most a simulation request may ask for (about 30 s of work)
    max_sweep_points: int = 2_000
    data_dir: str = "var"  # sweeps keep their results folders under data_dir/sweeps

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> Settings:
        env = dict(os.environ if env is None else env)
        values: dict[str, object] = {
            "environment": env.get("ANDELSTAL_ENV", "development"),
            "database_url": env.get("DATABASE_URL") or env.get("ANDELSTAL_DATABASE_URL") or cls.database_url,
            "secret": env.get("ANDELSTAL_SECRET") or DEV_SECRET,
            "max_body_bytes": _int(env, "ANDELSTAL_MAX_BODY_BYTES", cls.max_body_bytes),
            "max_time_limit_s": _float(env, "ANDELSTAL_MAX_TIME_LIMIT_S", cls.max_time_limit_s),
            "sync_time_limit_s": _float(env, "ANDELSTAL_SYNC_TIME_LIMIT_S", cls.sync_time_limit_s),
            "solve_workers": _int(env, "ANDELSTAL_SOLVE_WORKERS", max(1, os.cpu_count() or 1)),
            "batch_workers": _int(env, "ANDELSTAL_BATCH_WORKERS", max(1, (os.cpu_count() or 1) // 2)),
            "batch_per_token": _int(env, "ANDELSTAL_BATCH_PER_TOKEN", cls.batch_per_token),
            "cache_entries": _int(env, "ANDELSTAL_CACHE_ENTRIES", cls.cache_entries),
            "sync_simulation_children": _int(env, "ANDELSTAL_SYNC_SIMULATION_CHILDREN", cls.sync_simulation_children),
            "max_simulation_children": _int(env, "ANDELSTAL_MAX_SIMULATION_CHILDREN", cls.max_simulation_children),
            "max_sweep_points": _int(env, "ANDELSTAL_MAX_SWEEP_POINTS", cls.max_sweep_points),
            "data_dir": env.get("ANDELSTAL_DATA_DIR") or cls.data_dir,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)  # type: ignore[arg-type]
        settings.check()
        return settings

    def check(self) -> None:
        if self.environment not in ("development", "production", "test"):
            raise SettingsError(f"ANDELSTAL_ENV={self.environment!r} must be development, test or production")
        if self.environment != "development" and (self.secret == DEV_SECRET or len(self.secret) < 32):
            raise SettingsError(f"ANDELSTAL_SECRET must be set to a random value of at least 32 characters outside "
                                f"development (ANDELSTAL_ENV={self.environment}); the development secret is refused")
        if self.environment != "development" and (self.secret != self.secret.strip() or len(set(self.secret)) < 10):
            raise SettingsError("ANDELSTAL_SECRET looks made by hand: it has spaces at an end or fewer than 10 "
                                "different characters; use a random value, e.g. `openssl rand -hex 32`")

    def sqlite_path(self) -> Path | None:
        prefix = "sqlite:///"
        if self.database_url.startswith(prefix) and self.database_url != "sqlite:///:memory:":
            return Path(self.database_url[len(prefix):])
        return None
