"""``mmrisk server``: a team's MLflow tracking server (database backend, proxied artifacts)."""

from __future__ import annotations

import re
from typing import Annotated

import typer

from mmrisk.cli._common import err, fail, out
from mmrisk.exceptions import MMRiskError


def server(
    backend_store_uri: Annotated[str, typer.Option(
        "--backend-store-uri", help="Database of runs, metrics and the model registry, e.g. "
        "postgresql://mlflow@db.example.org:5432/mlflow (needs psycopg2: pip install "
        "psycopg2-binary).")],
    artifacts_destination: Annotated[str, typer.Option(
        "--artifacts-destination", help="Where the server keeps artifacts: a folder of the "
        "server or s3://…, gs://…; clients upload and download through the server.")],
    host: Annotated[str, typer.Option(
        "--host", help="Interface to bind. Anything but 127.0.0.1 exposes the server to the "
        "network: enable authentication (README, Team deployment).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 5000,
    workers: Annotated[int, typer.Option("--workers", help="Web-server worker processes.",
                                         min=1)] = 4,
    app_name: Annotated[str | None, typer.Option(
        "--app-name", help="MLflow app, e.g. basic-auth (MLflow's built-in users and "
        "permissions; needs Flask-WTF: pip install Flask-WTF).")] = None,
) -> None:
    """Run the MLflow tracking server a team shares (Ctrl-C to stop).

    Everyone then trains, compares, scores and registers with
    [bold]--tracking-uri http://HOST:PORT[/] (or MLFLOW_TRACKING_URI). The database is created
    or migrated once, when the server starts; artifacts are proxied, so clients never see the
    server's paths.
    """
    from mmrisk.workflows import server as run

    shown = re.sub(r"//[^@/]*@", "//…@", backend_store_uri)  # never echo a password

    def announce(url: str) -> None:  # once the arguments are valid and the port is free
        out.print(f"MLflow tracking server on {url} (backend {shown}, artifacts "
                  f"{artifacts_destination})")
        if host != "127.0.0.1":
            err.print(f"[bold yellow]Warning:[/] listening on {host}: anyone who can reach it "
                      "can read and change runs and models unless authentication is enabled "
                      "(--app-name basic-auth, or a reverse proxy).", highlight=False)

    try:
        raise typer.Exit(run(backend_store_uri, artifacts_destination, port, host,
                             workers=workers, app_name=app_name, announce=announce))
    except MMRiskError as e:
        fail(str(e))
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
