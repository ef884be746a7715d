import * as z from "../base/zod.ts";
import { parseChallenge } from "./challenge.ts";
import { authString, registerSecret } from "../base/redact.ts";
import { nodeGet, type Answer, type HttpGet } from "./http-get.ts";

export type Fetch = typeof globalThis.fetch;

/**
 * What a registry said of a credential (PROTOCOLS.md, "Checking a credential against its
 * registry"). Only `rejected` says the credential is bad: `unreachable` (DNS, connect, TLS,
 * 5xx, timeout) says nothing about it, and `unverifiable` is a registry that asks for no
 * credential at all on /v2/.
 */
export type Verdict =
  | { result: "accepted"; scheme: "bearer" | "basic" }
  | { result: "rejected"; status: number; message: string }
  | { result: "unreachable"; message: string }
  | { result: "unverifiable"; message: string };

export interface VerifyRequest {
  /** host[:port] of the registry's API (not a dockerconfig key with a path). */
  host: string;
  username: string;
  password: string;
  /** A repository to prove pull rights on (`team/app`); without it, only the login is checked. */
  repository?: string;
  /** Plain HTTP: what containerd and crane use for loopback registries. Default: https. */
  plainHttp?: boolean;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** How the registry is asked instead of node:http(s): tests trust their own CAs with a fetch. */
  fetch?: Fetch;
}

const DOCKER_HUB_API = "registry-1.docker.io";

/** The API host behind a dockerconfig key: Docker Hub's legacy key names its API host. */
export function apiHostOf(key: string): string {
  const bare = key.replace(/^https?:\/\//, "").split("/")[0]!;
  return bare === "index.docker.io" || bare === "docker.io" ? DOCKER_HUB_API : bare;
}

/** Loopback registries speak plain HTTP by default in containerd and crane. */
export function isLoopbackHost(host: string): boolean {
  const name = host.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
  return name === "localhost" || name === "::1" || /^127\./.test(name);
}

class Unreachable extends Error {}

/**
 * The Docker Registry v2 auth handshake with a credential: `/v2/` without it to learn the
 * challenge, then Basic auth on `/v2/` or a token from the Bearer realm (scoped to the
 * repository when one is given) used on `/v2/` or the repository's tag list.
 */
export async function verifyCredential(req: VerifyRequest): Promise<Verdict> {
  const send: HttpGet = req.fetch ? fromFetch(req.fetch) : nodeGet;
  const base = `${req.plainHttp ? "http" : "https"}://${req.host}`;
  const signal = AbortSignal.any([
    AbortSignal.timeout(req.timeoutMs ?? 10_000),
    ...(req.signal ? [req.signal] : []),
  ]);
  const basic = `Basic ${authString(req.username, req.password)}`;
  const get = async (url: string, authorization?: string): Promise<Answer> => {
    let res: Answer;
    try {
      res = await send(url, {
        headers: { ...(authorization ? { authorization } : {}), "user-agent": "regcred-verify" },
        signal,
      });
    } catch (err) {
      if (req.signal?.aborted) throw err;
      throw new Unreachable(`${new URL(url).host}: ${describe(err, signal)}`);
    }
    if (res.status >= 500) throw new Unreachable(`${new URL(url).host} answered ${res.status}`);
    return res;
  };
  const target = req.repository ? `${base}/v2/${req.repository}/tags/list` : `${base}/v2/`;
  const judge = (res: Answer, scheme: "bearer" | "basic", what: string): Verdict =>
    res.ok
      ? { result: "accepted", scheme }
      : { result: "rejected", status: res.status, message: `${what} answered ${res.status}` };

  try {
    const probe = await get(`${base}/v2/`);
    if (probe.ok) {
      if (!req.repository)
        return { result: "unverifiable", message: `${req.host}/v2/ asks for no credential` };
      return judge(await get(target, basic), "basic", `${req.host} (repository ${req.repository})`);
    }
    const challenge = parseChallenge(probe.headers.get("www-authenticate"));
    if (probe.status !== 401 || !challenge) {
      return {
        result: "unreachable",
        message: `${req.host}/v2/ answered ${probe.status} without a challenge`,
      };
    }
    if (challenge.scheme === "basic") return judge(await get(target, basic), "basic", req.host);

    const realm = challenge.params.realm;
    if (!realm) return { result: "unreachable", message: `${req.host}: Bearer challenge without a realm` };
    const tokenUrl = new URL(realm);
    if (challenge.params.service) tokenUrl.searchParams.set("service", challenge.params.service);
    if (req.repository) tokenUrl.searchParams.set("scope", `repository:${req.repository}:pull`);
    const tokenRes = await fetchToken(get, tokenUrl.toString(), basic);
    if ("result" in tokenRes) return tokenRes;
    return judge(await get(target, `Bearer ${tokenRes.token}`), "bearer", req.host);
  } catch (err) {
    if (err instanceof Unreachable) return { result: "unreachable", message: err.message };
    throw err;
  }
}

/** A caller's fetch as an HttpGet; the body is read whole, so no socket is left half-consumed. */
function fromFetch(f: Fetch): HttpGet {
  return async (url, init) => {
    const res = await f(url, {
      method: "GET",
      headers: init.headers,
      redirect: "follow",
      signal: init.signal,
    });
    return { status: res.status, ok: res.ok, headers: res.headers, body: await res.text() };
  };
}

async function fetchToken(
  get: (url: string, authorization?: string) => Promise<Answer>,
  url: string,
  basic: string,
): Promise<{ token: string } | Verdict> {
  const realm = new URL(url).host;
  const res = await get(url, basic);
  if (res.status === 401 || res.status === 403) {
    return { result: "rejected", status: res.status, message: `token realm ${realm} answered ${res.status}` };
  }
  if (!res.ok) return { result: "unreachable", message: `token realm ${realm} answered ${res.status}` };
  const parsed = tokenResponse.safeParse(safeJson(res.body));
  if (!parsed.success) return { result: "unreachable", message: `token realm ${realm} gave no token` };
  const token = parsed.data.token ?? parsed.data.access_token!;
  // A registry token is a credential of its own: masked for as long as the caller's scope holds it.
  registerSecret(token);
  return { token };
}

// Distribution's token spec: `token`, with `access_token` as the OAuth2-compatible alias.
const tokenResponse = z
  .object({
    token: z.optional(z.string().check(z.minLength(1))),
    access_token: z.optional(z.string().check(z.minLength(1))),
  })
  .check(z.refine((t) => t.token !== undefined || t.access_token !== undefined));

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function describe(err: unknown, signal: AbortSignal): string {
  if (signal.aborted) return "timed out";
  // fetch wraps the socket's error in `cause`; node:http(s) throws it as is.
  const e = err as { code?: unknown; cause?: { code?: unknown; message?: string } };
  const code = [e.cause?.code, e.code].find((c) => typeof c === "string");
  return (
    (code as string | undefined) ?? e.cause?.message ?? (err instanceof Error ? err.message : String(err))
  );
}
