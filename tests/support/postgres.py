"""A throwaway PostgreSQL cluster on 127.0.0.1 for tests, from Debian's server binaries.

``start_postgres()`` runs ``initdb`` in a fresh temporary folder, starts the server with
``pg_ctl`` on a free loopback port (no Unix socket outside that folder, no network interface but
127.0.0.1, trust authentication for the local user ``postgres``), creates a database and
returns a :class:`PostgresCluster`; ``stop()`` stops it (fast shutdown) and removes the folder.
``initdb`` refuses to run as root, so as root every command runs as the ``postgres`` system
user (``runuser -u postgres --``) and the folder is handed to that user. Durability is switched
off (``fsync``, ``synchronous_commit``, ``full_page_writes``): it is a test database.

The binaries come from ``MMRISK_PG_BIN`` if set, else the newest ``/usr/lib/postgresql/*/bin``
(Debian's ``postgresql`` package; ``.ci/run`` installs it), else ``pg_ctl`` on ``PATH``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from servers import free_port

__all__ = ["PostgresCluster", "postgres_bin", "start_postgres"]


def postgres_bin() -> Path | None:
    """The folder with ``initdb`` and ``pg_ctl``, or None when PostgreSQL is not installed."""
    explicit = os.environ.get("MMRISK_PG_BIN")
    candidates = [Path(explicit)] if explicit else []
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        versions = sorted((p for p in debian.iterdir() if p.name.isdigit()),
                          key=lambda p: int(p.name), reverse=True)
        candidates += [v / "bin" for v in versions]
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).parent)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def _as_postgres() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


@dataclass
class PostgresCluster:
    """A running test cluster.

    Parameters
    ----------
    root : pathlib.Path
        Its temporary folder (data directory, socket, log).
    port : int
        TCP port on 127.0.0.1.
    bindir : pathlib.Path
        The server binaries.
    user : str
        The database superuser.
    """

    root: Path
    port: int
    bindir: Path
    user: str = "postgres"

    def uri(self, database: str = "mlflow") -> str:
        """SQLAlchemy URI of a database of this cluster."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def log(self) -> str:
        """The server log (for failure messages)."""
        path = self.root / "server.log"
        return path.read_text(errors="replace") if path.is_file() else ""

    def run(self, tool: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """Run a PostgreSQL tool as the cluster's owner; raise with its output on failure."""
        cmd = [*_as_postgres(), str(self.bindir / tool), *args]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}\n"
                               f"{done.stderr}\n{self.log()[-2000:]}")
        return done

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its folder."""
        try:
            if (self.root / "data" / "postmaster.pid").exists():
                self.run("pg_ctl", "-D", str(self.root / "data"), "-m", "fast", "-w", "-t", "60",
                         "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def start_postgres(database: str = "mlflow") -> PostgresCluster:
    """Initialise and start a cluster on a free loopback port, with ``database`` created.

    Parameters
    ----------
    database : str
        Database to create.

    Returns
    -------
    PostgresCluster
        The running cluster; call ``stop()`` when done.
    """
    bindir = postgres_bin()
    if bindir is None:
        raise FileNotFoundError("PostgreSQL server binaries (initdb, pg_ctl) not found")
    root = Path(tempfile.mkdtemp(prefix="mmrisk-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    cluster = PostgresCluster(root=root, port=free_port(), bindir=bindir)
    try:
        cluster.run("initdb", "-D", str(root / "data"), "-U", cluster.user, "-A", "trust",
                    "-E", "UTF8", "--locale=C", "--no-sync")
        options = (f"-p {cluster.port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off")
        cluster.run("pg_ctl", "-D", str(root / "data"), "-l", str(root / "server.log"),
                    "-o", options, "-w", "-t", "120", "start", timeout=180)
        cluster.run("createdb", "-h", "127.0.0.1", "-p", str(cluster.port), "-U", cluster.user,
                    database)
    except BaseException:
        cluster.stop()
        raise
    return cluster
