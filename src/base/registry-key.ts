/**
 * Registry keys as kubelet matches them (pkg/credentialprovider/keyring.go): no scheme, a bare
 * host for /v1/ and /v2/ paths, an optional port and path prefix. The port stays as given:
 * kubelet requires equal ports, so `host:443` serves images named `host:443/...` and `host`
 * serves `host/...`, never each other. Docker Hub is the exception: its legacy key
 * `https://index.docker.io/v1/` is what docker and kubelet both understand.
 */
export const DOCKER_HUB_KEY = "https://index.docker.io/v1/";

const DOCKER_HUB_ALIASES = new Set([
  "docker.io",
  "index.docker.io",
  "registry-1.docker.io",
  "registry.hub.docker.com",
]);

// host (DNS name, IPv4 or [IPv6], with * wildcards per label) [:port] [/path]
const KEY =
  /^(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?|\*)(\.(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?))*(:\d{1,5})?(\/[A-Za-z0-9._\-/]*)?$/;
const IPV6_KEY = /^\[[0-9a-f:]+\](:\d{1,5})?(\/[A-Za-z0-9._\-/]*)?$/;

export type KeyResult = { ok: true; key: string } | { ok: false; error: string };

export function normalizeRegistryKey(input: string): KeyResult {
  let rest = input.trim();
  rest = rest.replace(/^https?:\/\//i, "");
  const slash = rest.indexOf("/");
  const host = (slash === -1 ? rest : rest.slice(0, slash)).toLowerCase();
  let pathPart = slash === -1 ? "" : rest.slice(slash);
  // kubelet drops a leading /v1 or /v2 path segment (/v2/ alone is the bare host); doing the
  // same here makes the rendered key the one kubelet indexes.
  if (/^\/v[12](\/|$)/.test(pathPart)) pathPart = pathPart.slice(3);
  pathPart = pathPart.replace(/\/+$/, "");
  if (DOCKER_HUB_ALIASES.has(host) && pathPart === "") return { ok: true, key: DOCKER_HUB_KEY };
  const key = host + pathPart;
  if (!KEY.test(key) && !IPV6_KEY.test(key)) {
    return {
      ok: false,
      error: `expected a registry host[:port][/path] such as "ghcr.io", got ${JSON.stringify(input)}`,
    };
  }
  const port = /:(\d+)/.exec(host)?.[1];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) {
    return { ok: false, error: `port out of range in ${JSON.stringify(input)}` };
  }
  return { ok: true, key };
}
