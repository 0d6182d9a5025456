"""hwfit/testing.py: under CI the suite runs on the real services and skips nothing."""

import pytest

from hwfit import testing


def test_ci_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("CI", "true")
    assert testing.on_ci()
    monkeypatch.setenv("CI", "")
    assert not testing.on_ci()


def test_a_ci_run_on_sqlite_or_without_a_redis_broker_is_refused():
    assert testing.ci_service_problems("postgresql", "redis://127.0.0.1:6379/0") == []
    problems = testing.ci_service_problems("sqlite", None)
    assert len(problems) == 2
    assert "not PostgreSQL" in problems[0] and "not Redis" in problems[1]


def test_under_ci_a_missing_module_is_an_import_error_not_a_skip(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(ImportError):
        testing.import_or_skip("hwfit_no_such_module")
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception):
        testing.import_or_skip("hwfit_no_such_module")


def test_under_ci_a_missing_data_file_fails(monkeypatch, tmp_path):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        testing.require_files(tmp_path / "measured_runs_dev.csv")
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception):
        testing.require_files(tmp_path / "measured_runs_dev.csv")
    testing.require_files(tmp_path)  # present: nothing happens
