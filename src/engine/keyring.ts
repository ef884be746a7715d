/**
 * kubelet's choice of pull credentials for an image, ported from Kubernetes v1.35
 * (pkg/credentialprovider/keyring.go, secrets/secrets.go, pkg/util/parsers and the
 * distribution reference normalizer it calls), so `regcred explain` and the pull-failure
 * watcher decide exactly as the node does. Quirks are kept on purpose: a path prefix matches
 * without regard to segment boundaries (`gcr.io/proj` covers `gcr.io/project`), a glob covers
 * one DNS label, ports must be equal, and an image with no registry falls back to the key
 * `index.docker.io` only when no other key matched.
 */

export interface AuthFields {
  username?: string;
  password?: string;
  auth?: string;
}

/** One pull Secret as kubelet reads it: in the order the Pod (or its ServiceAccount) lists it. */
export interface KeyringSecret {
  name: string;
  type: string;
  /** The Secret's data, base64-decoded. */
  data: Record<string, string>;
}

export interface KeyringHit {
  /** The key as kubelet indexed it (scheme and /v1/ or /v2/ dropped). */
  key: string;
  /** The key as written in the Secret. */
  entry: string;
  secret: string;
  username: string;
  password: string;
}

export type Lookup =
  | {
      ok: true;
      /** What kubelet matches keys against: the normalized repository, e.g. docker.io/library/nginx. */
      repository: string;
      /** In the order kubelet tries them; the first one the registry accepts is used. */
      hits: KeyringHit[];
      /** True when only the Docker Hub fallback matched. */
      viaDefault: boolean;
    }
  | { ok: false; error: string };

const DEFAULT_DOMAIN = "docker.io";
const LEGACY_DEFAULT_DOMAIN = "index.docker.io";
const DEFAULT_REGISTRY_HOST = "index.docker.io";

/** distribution's ParseNormalizedNamed(image).Name(): the repository without tag or digest. */
export function imageRepository(
  image: string,
): { ok: true; repository: string } | { ok: false; error: string } {
  if (/^[a-f0-9]{64}$/.test(image)) {
    return {
      ok: false,
      error: `invalid repository name (${image}), cannot specify 64-byte hexadecimal strings`,
    };
  }
  const slash = image.indexOf("/");
  let domain: string;
  let remainder: string;
  const first = slash === -1 ? "" : image.slice(0, slash);
  if (slash === -1 || (!/[.:]/.test(first) && first !== "localhost" && first.toLowerCase() === first)) {
    domain = DEFAULT_DOMAIN;
    remainder = image;
  } else {
    domain = first;
    remainder = image.slice(slash + 1);
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !remainder.includes("/")) remainder = `library/${remainder}`;
  if (remainder.toLowerCase() !== remainder) {
    return { ok: false, error: `invalid reference format: repository name (${remainder}) must be lowercase` };
  }
  let name = `${domain}/${remainder}`;
  const at = name.indexOf("@");
  if (at !== -1) name = name.slice(0, at);
  const colon = name.lastIndexOf(":");
  if (colon > name.lastIndexOf("/")) name = name.slice(0, colon);
  if (
    !/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(
      name.slice(domain.length + 1),
    )
  ) {
    return { ok: false, error: `invalid reference format: ${JSON.stringify(image)}` };
  }
  return { ok: true, repository: name };
}

/** Go's url.Parse("https://" + s) as far as keyring.go uses it: host and path. */
function schemeless(s: string): { host: string; path: string } {
  const stop = s.search(/[/?#]/);
  const host = stop === -1 ? s : s.slice(0, stop);
  const rest = stop === -1 ? "" : s.slice(stop);
  const path = rest.startsWith("/") ? decodeURIComponentSafe(rest.replace(/[?#].*$/, "")) : "";
  return { host, path };
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The key kubelet indexes a dockerconfig entry under (BasicDockerKeyring.Add). */
export function keyringKey(entry: string): string {
  const { host, path } = schemeless(entry.replace(/^https?:\/\//, ""));
  const effective = path.startsWith("/v2/") || path.startsWith("/v1/") ? path.slice(3) : path;
  return effective.length > 0 && effective !== "/" ? host + effective : host;
}

/** Go's net.SplitHostPort, falling back to the whole host without a port. */
function splitHostPort(hostport: string): { labels: string[]; port: string } {
  const v6 = /^\[([^\]]*)\]:(\d*)$/.exec(hostport);
  if (v6) return { labels: v6[1]!.split("."), port: v6[2]! };
  const last = hostport.lastIndexOf(":");
  if (last !== -1 && hostport.indexOf(":") === last && !hostport.startsWith("[")) {
    return { labels: hostport.slice(0, last).split("."), port: hostport.slice(last + 1) };
  }
  return { labels: hostport.split("."), port: "" };
}

/** Go's path/filepath.Match for one DNS label (no separators); a bad pattern matches nothing. */
export function globMatch(pattern: string, name: string): boolean {
  let re = "^";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "\\") {
      if (i + 1 >= pattern.length) return false;
      re += escape(pattern[++i]!);
    } else if (c === "[") {
      const close = pattern.indexOf("]", i + 2);
      if (close === -1) return false;
      let body = pattern.slice(i + 1, close);
      const negate = body.startsWith("^");
      if (negate) body = body.slice(1);
      if (body === "") return false;
      re += `[${negate ? "^" : ""}${body.replace(/[\]\\[]/g, "\\$&")}]`;
      i = close;
    } else re += escape(c);
  }
  try {
    return new RegExp(`${re}$`, "s").test(name);
  } catch {
    return false;
  }
}

const escape = (c: string) => c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

/** keyring.go URLsMatchStr(glob, target). */
export function urlsMatch(glob: string, target: string): boolean {
  const g = schemeless(glob);
  const t = schemeless(target);
  const gp = splitHostPort(g.host);
  const tp = splitHostPort(t.host);
  if (gp.port !== tp.port) return false;
  if (gp.labels.length !== tp.labels.length) return false;
  if (!t.path.startsWith(g.path)) return false;
  return gp.labels.every((label, i) => globMatch(label, tp.labels[i]!));
}

function isDefaultRegistryMatch(image: string): boolean {
  const slash = image.indexOf("/");
  const first = slash === -1 ? image : image.slice(0, slash);
  if (first.length === 0) return false;
  if (slash === -1) return true;
  if (first === "docker.io" || first === "index.docker.io") return true;
  return !/[.:]/.test(first);
}

/** dockerConfigEntry's UnmarshalJSON: a non-empty `auth` replaces username and password. */
function decodeEntry(entry: AuthFields): { username: string; password: string } {
  if (!entry.auth) return { username: entry.username ?? "", password: entry.password ?? "" };
  // Go decodes padded input with StdEncoding and the rest with RawStdEncoding, both strict.
  const padded = entry.auth.trim().endsWith("=");
  const valid = padded
    ? /^[A-Za-z0-9+/]*={1,2}$/.test(entry.auth) && entry.auth.length % 4 === 0
    : /^[A-Za-z0-9+/]*$/.test(entry.auth) && entry.auth.length % 4 !== 1;
  if (!valid) throw new Error("illegal base64 data in an auth field");
  const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon === -1)
    throw new Error("unable to parse auth field, must be formatted as base64(username:password)");
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function authsOf(secret: KeyringSecret): Record<string, AuthFields> | null {
  if (secret.type === "kubernetes.io/dockerconfigjson") {
    const body = secret.data[".dockerconfigjson"];
    if (!body) return null;
    return (JSON.parse(body) as { auths?: Record<string, AuthFields> }).auths ?? {};
  }
  if (secret.type === "kubernetes.io/dockercfg") {
    const body = secret.data[".dockercfg"];
    if (!body) return null;
    return JSON.parse(body) as Record<string, AuthFields>;
  }
  return null;
}

/**
 * The credentials kubelet would try for `image` with these pull Secrets, in its order. A
 * Secret kubelet cannot parse fails the whole lookup, as it fails the pull.
 */
export function lookup(secrets: readonly KeyringSecret[], image: string): Lookup {
  const parsed = imageRepository(image);
  if (!parsed.ok) return parsed;
  const creds = new Map<string, KeyringHit[]>();
  try {
    for (const secret of secrets) {
      const auths = authsOf(secret);
      if (!auths) continue;
      for (const [entry, fields] of Object.entries(auths)) {
        const key = keyringKey(entry);
        const { username, password } = decodeEntry(fields ?? {});
        const list = creds.get(key) ?? [];
        list.push({ key, entry, secret: secret.name, username, password });
        creds.set(key, list);
      }
    }
  } catch (err) {
    return { ok: false, error: `kubelet cannot read the pull secrets: ${(err as Error).message}` };
  }
  // Go sorts the keys (byte order) and walks them in reverse.
  const index = [...creds.keys()].sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
  const hits = index.filter((k) => urlsMatch(k, parsed.repository)).flatMap((k) => creds.get(k)!);
  if (hits.length > 0) return { ok: true, repository: parsed.repository, hits, viaDefault: false };
  if (isDefaultRegistryMatch(parsed.repository) && creds.has(DEFAULT_REGISTRY_HOST)) {
    return {
      ok: true,
      repository: parsed.repository,
      hits: creds.get(DEFAULT_REGISTRY_HOST)!,
      viaDefault: true,
    };
  }
  return { ok: true, repository: parsed.repository, hits: [], viaDefault: false };
}
