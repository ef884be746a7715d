import { ProviderError, type FailureReason } from "../contract.ts";
import { reasonFor, statusReason, userAgent } from "../kit.ts";
import { githubErrorBody } from "./schema.ts";

export type Fetch = typeof globalThis.fetch;

export interface GitHubResponse {
  status: number;
  headers: Headers;
  body: unknown;
}

/** A GitHub answer other than 2xx: a classified ProviderError that keeps what a caller may act on. */
export class GitHubApiError extends ProviderError {
  readonly status: number;
  /** GitHub's clock, from the Date header: the reference for App JWT clock skew. */
  readonly serverDate: number | null;

  constructor(reason: FailureReason, message: string, res: GitHubResponse) {
    const requestId = res.headers.get("x-github-request-id") ?? undefined;
    super(reason, message, requestId === undefined ? {} : { requestId });
    this.status = res.status;
    const date = Date.parse(res.headers.get("date") ?? "");
    this.serverDate = Number.isNaN(date) ? null : date;
  }
}

export interface GitHubRequest {
  method: "GET" | "POST";
  /** Path under the API base, starting with "/". */
  path: string;
  /** A PAT or an App JWT, sent as a Bearer token. */
  bearer: string;
  body?: unknown;
  signal: AbortSignal;
}

const USER_AGENT = userAgent();

/**
 * One GitHub REST call. Resolves with any 2xx; every other outcome is a classified
 * ProviderError carrying GitHub's x-github-request-id, so an operator can quote it to support.
 */
export async function callGitHub(apiUrl: string, req: GitHubRequest, fetch: Fetch): Promise<GitHubResponse> {
  const url = `${apiUrl}${req.path}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method: req.method,
      headers: {
        accept: "application/vnd.github+json",
        "x-github-api-version": "2022-11-28",
        "user-agent": USER_AGENT,
        authorization: `Bearer ${req.bearer}`,
        ...(req.body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(req.body === undefined ? {} : { body: JSON.stringify(req.body) }),
      redirect: "error",
      signal: req.signal,
    });
  } catch (err) {
    if (req.signal.aborted) throw req.signal.reason;
    throw new ProviderError(
      reasonFor({ err, noAnswer: true }),
      `cannot reach ${req.method} ${url}: ${networkCause(err)}`,
      { cause: err },
    );
  }
  const text = await res.text().catch(() => "");
  let body: unknown = text;
  try {
    body = text === "" ? null : JSON.parse(text);
  } catch {
    // GitHub answers JSON; a proxy or a wrong apiUrl may not. Keep the text for the message.
  }
  if (res.status >= 200 && res.status < 300) return { status: res.status, headers: res.headers, body };
  throw classifyFailure(req.method, url, { status: res.status, headers: res.headers, body });
}

// 422: the installation lacks the requested permission, or a listed repository is not in it.
const GITHUB = { statuses: { 422: "access_denied" } } as const;

/**
 * GitHub's failure shapes, in the vocabulary every provider shares. Rate limits come first: a
 * primary limit is 403/429 with x-ratelimit-remaining: 0, a secondary one 403/429 with
 * retry-after (GitHub docs, "Rate limits for the REST API").
 */
export function classifyFailure(method: string, url: string, res: GitHubResponse): GitHubApiError {
  const { status, headers } = res;
  const said = githubMessage(res.body);
  const what = `${method} ${url} answered ${status}${said ? `: ${said}` : ""}`;
  let reason: FailureReason;
  let hint = "";
  const remaining = headers.get("x-ratelimit-remaining");
  const retryAfter = headers.get("retry-after");
  if (status === 429 || (status === 403 && (remaining === "0" || retryAfter !== null))) {
    reason = "throttled";
    const reset = Number(headers.get("x-ratelimit-reset"));
    if (retryAfter !== null) hint = ` (retry after ${retryAfter}s)`;
    else if (remaining === "0" && reset > 0)
      hint = ` (limit resets at ${new Date(reset * 1000).toISOString()})`;
  } else {
    reason = statusReason(status, GITHUB);
  }
  return new GitHubApiError(reason, `${what}${hint}`, res);
}

function githubMessage(body: unknown): string {
  const error = githubErrorBody.safeParse(body);
  if (error.success) return error.data.message;
  if (typeof body === "string") return body.slice(0, 200).trim();
  return "";
}

function networkCause(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
}
