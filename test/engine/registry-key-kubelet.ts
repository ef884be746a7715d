// How kubelet reads the auths of a pull Secret and matches them against an image, after
// kubernetes/kubernetes pkg/credentialprovider/keyring.go (BasicDockerKeyring.Add, URLsMatch):
// a test oracle for the keys regcred renders, written from those rules, not from regcred's code.

interface ParsedUrl {
  host: string;
  path: string;
}

/** Go's url.Parse("https://" + s) for the host[:port][/path] strings keys and images are. */
function parseSchemeless(value: string): ParsedUrl {
  const rest = value.replace(/^https?:\/\//, "");
  const slash = rest.indexOf("/");
  return slash === -1 ? { host: rest, path: "" } : { host: rest.slice(0, slash), path: rest.slice(slash) };
}

/** net.SplitHostPort: a port only when there is one; "[::1]" alone is a host without port. */
function splitHostPort(host: string): { parts: string[]; port: string } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d*)$/.exec(host);
  if (!m) return { parts: host.split("."), port: "" };
  const bare = m[1]!.replace(/^\[|\]$/g, "");
  return { parts: bare.split("."), port: m[2]! };
}

/** The keyring index key kubelet derives from one auths key (BasicDockerKeyring.Add). */
export function kubeletKey(authsKey: string): string {
  const parsed = parseSchemeless(authsKey);
  let effectivePath = parsed.path;
  if (effectivePath.startsWith("/v2/") || effectivePath.startsWith("/v1/"))
    effectivePath = effectivePath.slice(3);
  return effectivePath !== "" && effectivePath !== "/" ? parsed.host + effectivePath : parsed.host;
}

/** filepath.Match for one DNS label: * and ? (the only metacharacters keys use here). */
function labelMatches(glob: string, label: string): boolean {
  const re = glob
    .replace(/[.+^${}()|\\]/g, "\\$&")
    .replace(/\*/g, "[^/]*")
    .replace(/\?/g, "[^/]");
  return new RegExp(`^${re}$`).test(label);
}

/** URLsMatch(glob=key, target=image): equal ports, as many labels, path prefix, label globs. */
export function urlsMatch(key: string, image: string): boolean {
  const g = parseSchemeless(key);
  const t = parseSchemeless(image);
  const gh = splitHostPort(g.host);
  const th = splitHostPort(t.host);
  if (gh.port !== th.port) return false;
  if (gh.parts.length !== th.parts.length) return false;
  if (!t.path.startsWith(g.path)) return false;
  return gh.parts.every((part, i) => labelMatches(part, th.parts[i]!));
}

/** The auths keys of a .dockerconfigjson that kubelet would use for an image. */
export function kubeletLookup(dockerconfigjson: string, image: string): string[] {
  const { auths } = JSON.parse(dockerconfigjson) as { auths: Record<string, unknown> };
  return Object.keys(auths).filter((k) => urlsMatch(kubeletKey(k), image));
}
