// Registry keys as kubelet needs them: a port is part of the key (kubelet requires equal ports),
// so `host:443` and `host` are different registries to it and neither may become the other.
import { describe, expect, it } from "vitest";
import { normalizeRegistryKey } from "../../src/base/registry-key.ts";
import { renderDockerConfig } from "../../src/engine/dockerconfig.ts";
import { parseConfig } from "../../src/config/load.ts";
import { kubeletKey, kubeletLookup } from "./registry-key-kubelet.ts";

function keyOf(input: string): string {
  const result = normalizeRegistryKey(input);
  if (!result.ok) throw new Error(result.error);
  return result.key;
}

/** The .dockerconfigjson regcred renders for a static entry listing these registries. */
function rendered(registries: string[]): string {
  const config = parseConfig(
    "keys.yaml",
    `registries:\n  - { name: a, provider: static, registries: ${JSON.stringify(registries)}, username: u, passwordFrom: { env: P } }\nsecrets: [{ name: s, registries: [a] }]\n`,
  );
  const keys = (config.registries[0]!.settings as { registries: string[] }).registries;
  return renderDockerConfig(keys.map((key) => ({ key, username: "u", password: "pw-1234", source: "a" })))
    .json;
}

describe("registry keys keep the port as given", () => {
  it.each([
    ["us.icr.io:443", "us.icr.io:443"],
    ["https://registry.example.com:443/", "registry.example.com:443"],
    ["registry.example.com:443/v2/", "registry.example.com:443"],
    ["registry.example.com:443/team", "registry.example.com:443/team"],
    ["[::1]:443", "[::1]:443"],
    ["registry.example.com", "registry.example.com"],
  ])("%s -> %s", (input, key) => {
    expect(keyOf(input)).toBe(key);
  });

  it("kubelet uses a host:443 key for images named host:443/..., and only for those", () => {
    const json = rendered(["registry.example.com:443"]);
    expect(kubeletLookup(json, "registry.example.com:443/team/app:1")).toEqual(["registry.example.com:443"]);
    // kubelet's own rule: the ports differ ("443" vs ""), so this image does not use the key.
    expect(kubeletLookup(json, "registry.example.com/team/app:1")).toEqual([]);
  });

  it("a bare host key serves images without a port, not host:443 images", () => {
    const json = rendered(["registry.example.com"]);
    expect(kubeletLookup(json, "registry.example.com/team/app:1")).toEqual(["registry.example.com"]);
    expect(kubeletLookup(json, "registry.example.com:443/team/app:1")).toEqual([]);
  });

  it("both forms listed give two keys, each serving its own images", () => {
    const json = rendered(["registry.example.com", "registry.example.com:443"]);
    expect(Object.keys(JSON.parse(json).auths)).toEqual(["registry.example.com", "registry.example.com:443"]);
    expect(kubeletLookup(json, "registry.example.com:443/app")).toEqual(["registry.example.com:443"]);
    expect(kubeletLookup(json, "registry.example.com/app")).toEqual(["registry.example.com"]);
  });

  it("renders keys kubelet reads back unchanged (no /v1/ or /v2/ left for it to strip)", () => {
    for (const input of ["registry.example.com:443/v2/", "registry.example.com/v1/team", "ghcr.io/org/"]) {
      const key = keyOf(input);
      expect(kubeletKey(key)).toBe(key);
    }
  });
});
