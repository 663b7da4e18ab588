"""Throwaway PostgreSQL clusters: the demo's embedded default, the tests' servers
and the benchmark's.

PostgreSQL refuses to run as root, so when we are root the server runs as the
``postgres`` OS user (via runuser). A cluster lives in a private temp directory
and listens only on a unix socket in that directory, so any number can run side
by side without port clashes.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

DEFAULT_PG_BINDIR = "/usr/lib/postgresql/15/bin"
SERVER_USER = "postgres"
PORT = 5432  # only names the socket file inside our private directory


class ClusterError(RuntimeError):
    """A throwaway cluster could not be created, started or stopped."""


def pg_bindir() -> Path:
    """The server binaries: $PG_BINDIR, else `pg_config --bindir`, else Debian's path."""
    if os.environ.get("PG_BINDIR"):
        return Path(os.environ["PG_BINDIR"])
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
        candidate = Path(out.stdout.strip())
        if (candidate / "initdb").exists():
            return candidate
    except (OSError, subprocess.CalledProcessError):
        pass
    return Path(DEFAULT_PG_BINDIR)


class Cluster:
    """One PostgreSQL server in a temp directory, reachable on a unix socket.

    ``settings`` are appended to postgresql.conf. ``fast`` turns off durability
    (fsync, full-page writes) for tests; the benchmark keeps the defaults so
    its WAL figures mean something. ``pg_cron`` preloads pg_cron for database
    ``postgres``, its jobs connecting through this cluster's socket (they try
    localhost by default, which a socket-only cluster refuses).
    """

    def __init__(self, *, settings: dict[str, str] | None = None, fast: bool = True,
                 base_dir: str | None = None, name: str = "trending", pg_cron: bool = False,
                 hba: list[str] | None = None, ident: list[str] | None = None):
        self.hba = list(hba) if hba is not None else None
        self.ident = list(ident) if ident is not None else None
        self.settings = dict(settings or {})
        self.pg_cron = pg_cron
        self.fast = fast
        self.base_dir = base_dir
        self.name = name
        self.dir: Path | None = None
        self.running = False

    # -- paths and connection --------------------------------------------
    @property
    def data_dir(self) -> Path:
        return self._require_dir() / "data"

    @property
    def socket_dir(self) -> Path:
        return self._require_dir()

    @property
    def log_file(self) -> Path:
        return self._require_dir() / "server.log"

    def _require_dir(self) -> Path:
        if self.dir is None:
            raise ClusterError("the cluster has not been created yet")
        return self.dir

    def conninfo(self, dbname: str = "postgres") -> str:
        return f"host={self.socket_dir} port={PORT} user={SERVER_USER} dbname={dbname}"

    def env(self, dbname: str = "postgres") -> dict[str, str]:
        """libpq environment variables for client programs (psql, pg_prove, pg_dump)."""
        env = dict(os.environ)
        env.update(PGHOST=str(self.socket_dir), PGPORT=str(PORT), PGUSER=SERVER_USER,
                   PGDATABASE=dbname)
        return env

    # -- lifecycle --------------------------------------------------------
    def start(self) -> "Cluster":
        self.dir = Path(tempfile.mkdtemp(prefix=f"{self.name}-pg-", dir=self.base_dir))
        self.dir.chmod(0o755)
        if os.geteuid() == 0:
            entry = pwd.getpwnam(SERVER_USER)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        self._run_as_server([str(pg_bindir() / "initdb"), "-D", str(self.data_dir), "-A", "trust",
                             "-U", SERVER_USER, "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
        with open(self.data_dir / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(self._config_text())
        self._write_hba()
        self._run_as_server([str(pg_bindir() / "pg_ctl"), "-D", str(self.data_dir), "-l",
                             str(self.log_file), "-w", "-t", "60", "start"])
        self.running = True
        return self

    # -- authentication and restarts (tests of a non-trust pg_hba.conf) ----
    def _write_hba(self) -> None:
        """``hba``, when given, replaces initdb's trust-everyone pg_hba.conf
        (the harness itself connects as postgres: give it a trust line), and
        ``ident`` pg_ident.conf (user name maps for peer lines)."""
        for lines, name in ((self.hba, "pg_hba.conf"), (self.ident, "pg_ident.conf")):
            if lines is None:
                continue
            path = self.data_dir / name
            path.write_text("# trending throwaway cluster\n" + "\n".join(lines) + "\n", encoding="utf-8")
            if os.geteuid() == 0:
                entry = pwd.getpwnam(SERVER_USER)
                os.chown(path, entry.pw_uid, entry.pw_gid)

    def restart(self) -> None:
        """pg_ctl restart: postmaster settings (ALTER SYSTEM) take effect."""
        self._run_as_server([str(pg_bindir() / "pg_ctl"), "-D", str(self.data_dir), "-l",
                             str(self.log_file), "-m", "fast", "-w", "-t", "60", "restart"])

    def stop(self, *, remove: bool = True) -> None:
        if self.dir is None:
            return
        if self.running:
            try:
                self._run_as_server([str(pg_bindir() / "pg_ctl"), "-D", str(self.data_dir),
                                     "-m", "fast", "-w", "stop"])
            finally:
                self.running = False
        if remove:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> "Cluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- internals --------------------------------------------------------
    def _config_text(self) -> str:
        base = {
            "listen_addresses": "''",
            "port": str(PORT),
            "unix_socket_directories": f"'{self.socket_dir}'",
            "max_connections": "50",
            "shared_buffers": "'256MB'",
            "max_wal_size": "'4GB'",
            "logging_collector": "off",
            "log_min_messages": "warning",
            "timezone": "'UTC'",
        }
        if self.fast:
            base.update(fsync="off", synchronous_commit="off", full_page_writes="off")
        if self.pg_cron:
            base.update({"shared_preload_libraries": "'pg_cron'", "cron.database_name": "'postgres'",
                         "cron.host": f"'{self.socket_dir}'"})
        base.update(self.settings)
        lines = [f"{key} = {value}" for key, value in base.items()]
        return "\n# trending throwaway cluster\n" + "\n".join(lines) + "\n"

    def _run_as_server(self, argv: list[str]) -> None:
        if os.geteuid() == 0:
            argv = ["runuser", "-u", SERVER_USER, "--", *argv]
        result = subprocess.run(argv, capture_output=True, text=True, cwd="/")
        if result.returncode != 0:
            log = ""
            if self.dir is not None and self.log_file.exists():
                log = self.log_file.read_text(errors="replace")[-2000:]
            raise ClusterError(f"{' '.join(argv)} failed ({result.returncode}):\n"
                               f"{result.stdout}{result.stderr}{log}")
