import { describe, expect, it } from "vitest";
import { renderDockerConfig, RenderError, MAX_SECRET_BYTES } from "../../src/engine/dockerconfig.ts";
import { normalizeRegistryKey, DOCKER_HUB_KEY } from "../../src/base/registry-key.ts";

describe("renderDockerConfig", () => {
  it("writes username, password and base64 auth per key, keys sorted", () => {
    const { json } = renderDockerConfig([
      { key: "zz.example.com", username: "u2", password: "p2-secret", source: "b" },
      { key: "aa.example.com:5000", username: "u1", password: "p1:with:colons", source: "a" },
    ]);
    const parsed = JSON.parse(json) as {
      auths: Record<string, { username: string; password: string; auth: string }>;
    };
    expect(Object.keys(parsed.auths)).toEqual(["aa.example.com:5000", "zz.example.com"]);
    expect(parsed.auths["aa.example.com:5000"]).toEqual({
      username: "u1",
      password: "p1:with:colons",
      auth: Buffer.from("u1:p1:with:colons").toString("base64"),
    });
  });

  it("is deterministic regardless of input order", () => {
    const a = { key: "a.io", username: "u", password: "pw-aaaa", source: "x" };
    const b = { key: "b.io", username: "u", password: "pw-bbbb", source: "y" };
    expect(renderDockerConfig([a, b]).json).toBe(renderDockerConfig([b, a]).json);
  });

  it("keeps the first registry's entry when two supply the same key, and reports it", () => {
    const out = renderDockerConfig([
      { key: "ghcr.io", username: "first", password: "pw-first", source: "one" },
      { key: "ghcr.io", username: "second", password: "pw-second", source: "two" },
    ]);
    expect(JSON.parse(out.json).auths["ghcr.io"].username).toBe("first");
    expect(out.shadowed).toEqual([{ key: "ghcr.io", kept: "one", dropped: "two" }]);
  });

  it("refuses a body over 1 MiB with a clear error", () => {
    const huge = "x".repeat(MAX_SECRET_BYTES);
    expect(() => renderDockerConfig([{ key: "a.io", username: "u", password: huge, source: "big" }])).toThrow(
      /over the 1 MiB Secret limit/,
    );
    expect(() => renderDockerConfig([{ key: "a.io", username: "u", password: huge, source: "big" }])).toThrow(
      RenderError,
    );
  });
});

describe("normalizeRegistryKey", () => {
  it.each([
    ["docker.io", DOCKER_HUB_KEY],
    ["https://index.docker.io/v1/", DOCKER_HUB_KEY],
    ["registry-1.docker.io", DOCKER_HUB_KEY],
    ["https://GHCR.io/", "ghcr.io"],
    ["http://registry.local:5000/v2/", "registry.local:5000"],
    ["123456789012.dkr.ecr.eu-west-1.amazonaws.com", "123456789012.dkr.ecr.eu-west-1.amazonaws.com"],
    ["europe-docker.pkg.dev/my-project", "europe-docker.pkg.dev/my-project"],
    ["us.icr.io:443", "us.icr.io:443"],
    ["*.azurecr.io", "*.azurecr.io"],
    ["127.0.0.1:5000", "127.0.0.1:5000"],
  ])("%s -> %s", (input, expected) => {
    expect(normalizeRegistryKey(input)).toEqual({ ok: true, key: expected });
  });

  it.each(["bad host", "", "ftp://x", "a..b", "host:99999"])("rejects %j", (input) => {
    expect(normalizeRegistryKey(input).ok).toBe(false);
  });
});
