"""``mmrisk server``'s command line: MLflow's tracking server with proxied artifacts."""

from __future__ import annotations

import sys

import pytest
from typer.testing import CliRunner

from mmrisk.cli import app
from mmrisk.exceptions import MMRiskError
from mmrisk.workflows import server_command


def _opt(cmd: list[str], name: str) -> str:
    return cmd[cmd.index(name) + 1]


def test_loopback_proxied_artifacts_and_an_absolute_destination(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cmd = server_command("postgresql+psycopg2://mlflow@db:5432/mlflow", "art", 5123)
    assert cmd[:4] == [sys.executable, "-m", "mlflow", "server"]
    assert "--serve-artifacts" in cmd
    assert _opt(cmd, "--host") == "127.0.0.1" and _opt(cmd, "--port") == "5123"
    assert _opt(cmd, "--artifacts-destination") == str(tmp_path / "art")
    assert (tmp_path / "art").is_dir()
    assert "--app-name" not in cmd and "--default-artifact-root" not in cmd


def test_a_bare_postgresql_uri_gets_the_installed_driver(tmp_path):
    pytest.importorskip("psycopg2")
    import importlib.util

    cmd = server_command("postgresql://u@h:5432/d", str(tmp_path), 5000)
    expected = ("postgresql://u@h:5432/d" if importlib.util.find_spec("psycopg")
                else "postgresql+psycopg2://u@h:5432/d")
    assert _opt(cmd, "--backend-store-uri") == expected


def test_host_app_name_and_object_store_destinations_pass_through():
    cmd = server_command("sqlite:///team.db", "s3://bucket/mlflow", 8080, "0.0.0.0",
                         workers=2, app_name="basic-auth")
    assert _opt(cmd, "--host") == "0.0.0.0" and _opt(cmd, "--workers") == "2"
    assert _opt(cmd, "--artifacts-destination") == "s3://bucket/mlflow"
    assert _opt(cmd, "--app-name") == "basic-auth"


@pytest.mark.parametrize("uri, words", [
    ("http://127.0.0.1:5000", "use a database URI"),
    ("postgres://u:secret@h/d", "use a database URI"),
    ("mysql+nosuchdriver://u@h/d", "nosuchdriver"),
])
def test_bad_backend_uris_are_one_clear_error_without_the_password(uri, words, tmp_path):
    with pytest.raises(MMRiskError, match=words) as info:
        server_command(uri, str(tmp_path), 5000)
    assert "secret" not in str(info.value)


@pytest.mark.parametrize("port", [0, 70000, True])
def test_bad_ports(port, tmp_path):
    with pytest.raises(MMRiskError, match="port"):
        server_command("sqlite:///x.db", str(tmp_path), port)


def test_cli_reports_a_bad_backend_in_one_line(tmp_path):
    res = CliRunner().invoke(app, ["server", "--backend-store-uri", "http://x:1",
                                   "--artifacts-destination", str(tmp_path)])
    assert res.exit_code == 1
    assert "use a database URI" in res.output and "Traceback" not in res.output
