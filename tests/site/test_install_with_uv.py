"""`make setup` installs with uv given pip's settings (scripts/install_with_uv.py), and with pip when it cannot."""

import pytest

from scripts.install_with_uv import UntranslatableSetting, effective_settings, uv_options

# `pip config list` on the development machine: files, then the PIP_* variables as ":env:"
THIS_MACHINE = """\
:env:.cert='/etc/ssl/certs/ca-certificates.crt'
:env:.default-timeout='180'
:env:.disable-pip-version-check='1'
:env:.find-links='/opt/wheels'
global.cert='/etc/ssl/certs/ca-certificates.crt'
global.constraint='/etc/xdg/pip/constraints.txt'
global.extra-index-url='file:///opt/pypi/simple file:///opt/pypi-more/simple'
global.find-links='/opt/wheels'
"""


def test_this_machines_settings_become_uv_options():
    options, environment = uv_options(effective_settings(THIS_MACHINE))
    assert options == [
        "--index-strategy",
        "unsafe-best-match",
        "--default-index",
        "https://pypi.org/simple",
        "--cert",
        "/etc/ssl/certs/ca-certificates.crt",
        "--constraints",
        "/etc/xdg/pip/constraints.txt",
        "--index",
        "file:///opt/pypi/simple",
        "--index",
        "file:///opt/pypi-more/simple",
        "--find-links",
        "/opt/wheels",
    ]
    assert environment == {"UV_HTTP_TIMEOUT": "180"}


def test_environment_overrides_install_section_overrides_global():
    listed = "global.index-url='https://a/simple'\ninstall.index-url='https://b/simple'\n"
    assert effective_settings(listed)["index-url"] == "https://b/simple"
    listed += ":env:.index-url='https://c/simple'\nfreeze.index-url='https://d/simple'\n"
    options, _ = uv_options(effective_settings(listed))
    assert options[2:4] == ["--default-index", "https://c/simple"]


def test_no_index_and_trusted_hosts_are_passed_on():
    options, _ = uv_options({"no-index": "true", "trusted-host": "a.example b.example"})
    assert "--no-index" in options
    assert options[-4:] == ["--allow-insecure-host", "a.example", "--allow-insecure-host", "b.example"]
    assert "--no-index" not in uv_options({"no-index": "0"})[0]


@pytest.mark.parametrize("name", ["proxy", "only-binary", "pre", "client-cert", "use-feature"])
def test_a_setting_it_cannot_translate_stops_uv_so_pip_installs(name):
    with pytest.raises(UntranslatableSetting, match=name):
        uv_options({name: "x"})


def test_output_it_cannot_read_stops_uv():
    with pytest.raises(UntranslatableSetting):
        effective_settings("something unexpected\n")
