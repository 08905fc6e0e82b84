#!/usr/bin/python3
"""Writes the seed corpus of fuzz_api (tests/fuzz/fuzz_api.cpp): requests in its text form,
one per file, from the API's everyday calls and the hostile cases of issue 10. Run it again
after changing it; the files are committed."""
import json
import os

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "api")
ADM = "/api/v1/pools/eu/members/127.0.0.1/admin"
JSON = {"Content-Type": "application/json"}


def req(method, target, headers=None, body=b""):
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    if isinstance(body, str):
        body = body.encode()
    if isinstance(target, str):
        target = target.encode()
    head = method.encode() + b" " + target + b"\n"
    for k, v in (headers or {}).items():
        head += k.encode() + b": " + (v if isinstance(v, bytes) else v.encode()) + b"\n"
    return head + b"\n" + body


DOC = {"zones": [{"name": "a.test", "soa": {"mname": "ns.a.test", "rname": "h.a.test"},
                  "ns": ["ns.a.test"], "records": ["ns 300 A 127.0.0.53"]}],
       "pools": [{"name": "eu", "members": [{"address": "127.0.0.1"}, {"address": "127.0.0.2"}]}],
       "balancers": [{"name": "app.a.test", "pools": [{"pool": "eu"}]}]}

poison = ("a" + "\u20ac" * 600)

seeds = {
    "get_config": req("GET", "/api/v1/config"),
    "get_config_yaml": req("GET", "/api/v1/config?format=yaml"),
    "head_pool": req("HEAD", "/api/v1/pools/eu"),
    "get_member": req("GET", "/api/v1/pools/eu/members/127.0.0.1", {"Authorization": "viewer"}),
    "put_config_dry_run": req("PUT", "/api/v1/config?dry_run=true", JSON, DOC),
    "put_config_prune": req("PUT", "/api/v1/config?prune=1", JSON, {"zones": []}),
    "dry_run_True": req("PUT", ADM + "?dry_run=True", JSON, {"admin": "drain"}),
    "dry_run_yes": req("PUT", "/api/v1/config?dry_run=yes", JSON, DOC),
    "dry_run_bare": req("PUT", ADM + "?dry_run", JSON, {"admin": "drain"}),
    "dryrun_misspelt": req("PUT", ADM + "?dryrun=true", JSON, {"admin": "drain"}),
    "dry_run_twice": req("PUT", ADM + "?dry_run=true&dry_run=false", JSON, {"admin": "drain"}),
    "drain": req("PUT", ADM, dict(JSON, Authorization="operator"), {"admin": "drain"}),
    "drain_dry_run": req("PUT", ADM + "?dry_run=1", JSON, {"admin": "drain"}),
    "if_match_stale": req("PUT", "/api/v1/pools/eu/members/127.0.0.2",
                          dict(JSON, **{"If-Match": '"1"'}), {"weight": 3}),
    "if_match_star": req("DELETE", "/api/v1/pools/eu/members/127.0.0.2", {"If-Match": "*"}),
    "if_match_weak": req("PUT", ADM, dict(JSON, **{"If-Match": 'W/"2"'}), {"admin": "up"}),
    "if_match_list": req("PUT", ADM, dict(JSON, **{"If-Match": '"1", "2" ,"3"'}),
                         {"admin": "auto"}),
    "if_match_bad": req("PUT", ADM, dict(JSON, **{"If-Match": '"12'}), {"admin": "auto"}),
    "if_match_get": req("GET", "/api/v1/pools/eu", {"If-Match": '"2"'}),
    "if_match_token": req("POST", "/api/v1/tokens", dict(JSON, **{"If-Match": '"2"'}),
                          {"name": "t", "role": "viewer"}),
    "poisoned_admin": req("PUT", ADM, JSON, json.dumps({"admin": poison}, ensure_ascii=False)),
    "non_ascii_path": req("PUT", "/api/v1/pools/b%C3%BCcher", JSON,
                          {"members": [{"address": "127.0.0.9"}]}),
    "raw_byte_path": req("DELETE", b"/api/v1/pools/b\xc3\xbccher"),
    "bad_utf8_path": req("DELETE", "/api/v1/zones/%FF.test"),
    "bad_percent": req("GET", "/api/v1/pools/e%u"),
    "non_ascii_query": req("GET", "/api/v1/explain?name=app.a.test&client=%FF"),
    "token_in_url": req("PUT", "/api/v1/pools/eu?token=x", JSON, {}),
    "unauthenticated_write": req("PUT", ADM, dict(JSON, Authorization="none"),
                                 {"admin": "drain"}),
    "bad_token": req("DELETE", "/api/v1/pools/eu",
                     {"Authorization": "Bearer gtm_0000", "Source": "127.0.0.9"}),
    "viewer_write": req("PUT", ADM, dict(JSON, Authorization="viewer"), {"admin": "drain"}),
    "too_large": req("PUT", "/api/v1/config", {"Too-Large": "1"}),
    "text_plain": req("PUT", ADM, {"Content-Type": "text/plain"}, "admin: drain"),
    "patch_405": req("PATCH", "/api/v1/pools/eu", JSON, {}),
    "healthz_put": req("PUT", "/healthz"),
    "tokens_post": req("POST", "/api/v1/tokens", JSON, {"name": "ci", "role": "viewer"}),
    "record_post": req("POST", "/api/v1/zones/a.test/records", JSON,
                       {"record": "txt 300 TXT \"hi\""}),
    "record_delete": req("DELETE", "/api/v1/zones/a.test/records/0"),
    "member_put": req("PUT", "/api/v1/pools/eu/members/127.0.0.3", JSON, {"weight": 9}),
    "pool_put": req("PUT", "/api/v1/pools/asia", JSON, {"members": [{"address": "127.0.0.7"}]}),
    "balancer_post": req("POST", "/api/v1/balancers", JSON,
                         {"name": "b.a.test", "pools": [{"pool": "eu"}]}),
    "audit_page": req("GET", "/api/v1/audit?after=0&limit=1000"),
    "events_page": req("GET", "/api/v1/events?limit=+5"),
    "explain": req("GET", "/api/v1/explain?name=APP.a.test&type=AAAA&client=127.0.0.9"),
    "health_pool": req("GET", "/api/v1/health?pool=eu"),
    "deep_json": req("PUT", "/api/v1/config", JSON, "[" * 100 + "]" * 100),
    "duplicate_keys": req("POST", "/api/v1/pools/eu/members", JSON,
                          '{"address": "127.0.0.8", "weight": 1, "weight": 2}'),
    "nan_weight": req("POST", "/api/v1/pools/eu/members", JSON,
                      '{"address": "127.0.0.8", "weight": NaN}'),
    "invalid_utf8_body": req("PUT", ADM, JSON, b'{"admin": "\xff\xfe"}'),
}

os.makedirs(HERE, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)
print(f"wrote {len(seeds)} seeds to {HERE}")
