"""The dashboards' settings fail loudly, naming the variable; the token may come from a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import SettingsError, load_settings


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("GRAFANA_URL", "grafana.example.org", "must be an http:// or https:// URL"),
        ("SUMMIT_PUBLIC_URL", "ftp://summit", "must be an http:// or https:// URL"),
        ("GRAFANA_FOLDER_UID", "no spaces here", "GRAFANA_FOLDER_UID"),
    ],
)
def test_a_malformed_setting_names_its_variable(variable: str, value: str, problem: str) -> None:
    with pytest.raises(SettingsError, match=variable) as failure:
        load_settings({variable: value})
    assert problem in str(failure.value)


def test_the_grafana_token_comes_from_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = tmp_path / "token"
    token.write_text("glsa_from_a_file\n")
    monkeypatch.setenv("GRAFANA_TOKEN_FILE", str(token))
    monkeypatch.delenv("GRAFANA_TOKEN", raising=False)
    assert load_settings().grafana_token == "glsa_from_a_file"


def test_links_point_at_the_public_url_or_this_server() -> None:
    assert load_settings({"SUMMIT_PORT": 9000}).summit_url == "http://127.0.0.1:9000"
    public = load_settings({"SUMMIT_PUBLIC_URL": "https://summit.example.org/"})
    assert public.summit_url == "https://summit.example.org"
