"""The load test's servers: each started as its make target runs it."""

from bench.load import SERVERS, dev_server_env, server_env


def test_it_runs_runserver_dev_as_make_run_does(monkeypatch):
    monkeypatch.setenv("HWFIT_ENV", "production")
    monkeypatch.setenv("DEBUG", "false")
    monkeypatch.setenv("DATABASE_URL", "postgres://db/x")
    env = dev_server_env(8765)
    # Development settings (no production switch, DEBUG by default) on the same database.
    assert "HWFIT_ENV" not in env and "DEBUG" not in env and env["DATABASE_URL"] == "postgres://db/x"
    assert env["HWFIT_ANON_THROTTLE"] == server_env(8765)["HWFIT_ANON_THROTTLE"]
    assert server_env(8765)["HWFIT_ENV"] == "production"
    assert SERVERS == ("gunicorn", "runserver", "runserver-dev")
