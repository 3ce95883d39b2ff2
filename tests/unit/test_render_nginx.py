"""The nginx relay config: golden files, the realm map, TLS and CA variants (pure rendering).

Real nginx runs these configs in tests/e2e/test_nginx_proxy.py; here the text is pinned and the
parts that need care (regex escaping, listen defaults) are checked directly.
"""

from __future__ import annotations

import re

import pytest

from provisioner.profile.model import Upstream
from provisioner.render.nginx import render_nginx
from tests.golden import assert_golden


def upstream(**deploy: object) -> Upstream:
    return Upstream.model_validate({
        "kind": "nginx-proxy", "url": "https://mirror.example.com",
        "deploy": {"kind": "nginx", "output": "/etc/nginx/conf.d",
                   "server_name": "mirror.example.com", **deploy},
    })


TLS = {"tls_certificate": "/etc/ssl/mirror/fullchain.pem", "tls_key": "/etc/ssl/mirror/key.pem"}


def render(name: str, up: Upstream) -> str:
    assert up.deploy is not None and up.deploy.kind == "nginx"
    return render_nginx(name, up, up.deploy)


def test_golden_docker_hub_with_tls() -> None:
    assert_golden("nginx/hk-nginx.conf", render("hk-nginx", upstream(**TLS)))


def test_golden_plain_http_custom_registry() -> None:
    text = render("ghcr-relay", upstream(listen="127.0.0.1:8080", registry="https://ghcr.io",
                                         auth="https://ghcr.io", upstream_ca=None))
    assert_golden("nginx/ghcr-relay.conf", text)


@pytest.mark.parametrize(
    ("deploy", "listen"),
    [({}, "listen 80;"), (TLS, "listen 443 ssl;"),
     ({"listen": "127.0.0.1:8080"}, "listen 127.0.0.1:8080;"),
     ({**TLS, "listen": 8443}, "listen 0.0.0.0:8443 ssl;")],
)
def test_listen_defaults(deploy: dict[str, object], listen: str) -> None:
    text = render("x", upstream(**deploy))
    assert re.findall(r"^    listen .*$", text, re.M) == [f"    {listen}"]
    assert ("ssl_certificate " in text) == ("tls_certificate" in deploy)


def test_realm_map_escapes_the_auth_url_and_targets_the_public_url() -> None:
    text = render("hk-nginx", upstream())
    line = next(line for line in text.splitlines() if "realm=" in line)
    pattern, value = re.fullmatch(r'\s*"~(.*)" "(.*)";', line).groups()  # type: ignore[union-attr]
    assert value == "$1https://mirror.example.com/token$2"
    # What nginx's PCRE sees after the config parser drops the \" escapes.
    regex = re.compile(pattern.replace('\\"', '"'))
    challenge = 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io"'
    assert regex.sub(value.replace("$1", r"\1").replace("$2", r"\2"), challenge) == (
        'Bearer realm="https://mirror.example.com/token",service="registry.docker.io"')
    assert regex.match('Bearer realm="https://authXdocker.io/token"') is None, "dots are literal"


def test_variables_are_per_upstream_and_ca_is_optional() -> None:
    one, two = render("hk-nginx", upstream()), render("sg-nginx", upstream(upstream_ca=None))
    assert "$provisioner_hk_nginx_challenge" in one and "$provisioner_sg_nginx_challenge" in two
    assert "proxy_ssl_verify on;" in one and "proxy_ssl_verify" not in two
