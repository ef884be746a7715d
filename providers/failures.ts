import type { ZodMiniType, core, output } from "zod/mini";
import { ProviderError, type FailureReason } from "./contract.ts";
import { networkCode } from "./network.ts";

/**
 * The one mapping from an upstream's failure to a reason, shared by every provider. A provider's
 * own table comes first (its error codes: AADSTS, IAM's BXNIM, AWS's, OAuth's; statuses it reads
 * differently); what the table does not name falls to the HTTP status, and a request that got
 * no answer is `timeout` when it ran out of time, else `network`.
 */
export interface UpstreamFailure {
  /** The HTTP status, when an answer came. */
  status?: number | undefined;
  /** The upstream's own error code or name, looked up in the provider's table. */
  code?: string | undefined;
  /** What was thrown: its name and socket codes tell a timeout or a transport failure. */
  err?: unknown;
  /** True when the request is known to have got no answer (the fetch itself rejected). */
  noAnswer?: boolean;
}

export interface ReasonTable {
  codes?: Readonly<Record<string, FailureReason>>;
  statuses?: Readonly<Record<number, FailureReason>>;
}

const STATUSES: Readonly<Record<number, FailureReason>> = {
  401: "bad_credentials",
  403: "access_denied",
  404: "not_found",
  408: "timeout",
  429: "throttled",
};

/** What an HTTP status means: 5xx is the upstream (or the way to it) failing, retried as `network`. */
export function statusReason(status: number, table: ReasonTable = {}): FailureReason {
  return table.statuses?.[status] ?? STATUSES[status] ?? (status >= 500 ? "network" : "unknown");
}

/** A timeout, whoever set it: an abort signal's timeout, an SDK's or socket's own. */
export function isTimeout(err: unknown): boolean {
  const name = (err as { name?: unknown } | null)?.name;
  return name === "TimeoutError" || name === "AbortError";
}

export function reasonFor(failure: UpstreamFailure, table: ReasonTable = {}): FailureReason {
  const byCode = failure.code === undefined ? undefined : table.codes?.[failure.code];
  if (byCode) return byCode;
  if (failure.status !== undefined) return statusReason(failure.status, table);
  if (isTimeout(failure.err)) return "timeout";
  if (failure.noAnswer || networkCode(failure.err)) return "network";
  return "unknown";
}

/** Aborts (the refresher's timeout, shutdown) pass through untouched: the refresher names them. */
export function isAbort(err: unknown, signal: AbortSignal): boolean {
  return signal.aborted || (err as { name?: unknown } | null)?.name === "AbortError";
}

/** Error texts can quote a server's whole answer; keep messages to a line's worth. */
export function oneLine(text: string, max = 300): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > max ? `${line.slice(0, max)}...` : line;
}

/** The body as JSON, or undefined when it is not JSON (a proxy's page). */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * An upstream answer parsed by its schema, or an `invalid_response` that names what is wrong by
 * path and expectation only: an answer that fails to parse may still hold a token, and its
 * values never reach a message.
 */
export function parseAnswer<S extends ZodMiniType>(
  schema: S,
  body: unknown,
  what: string,
  options: { requestId?: string | undefined } = {},
): output<S> {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.slice(0, 3).map(describeIssue).join("; ");
  return invalidResponse(`${what}: the answer is not as expected (${issues})`, options);
}

export function invalidResponse(message: string, options: { requestId?: string | undefined } = {}): never {
  throw new ProviderError(
    "invalid_response",
    message,
    options.requestId ? { requestId: options.requestId } : {},
  );
}

function describeIssue(issue: core.$ZodIssue): string {
  const where = issue.path.length > 0 ? issue.path.map(String).join(".") : "the body";
  if (issue.code === "invalid_type") return `${where}: expected ${issue.expected}`;
  if (issue.code === "too_small" || issue.code === "too_big") return `${where}: out of range`;
  if (issue.code === "invalid_format") return `${where}: expected ${issue.format}`;
  return `${where}: ${issue.code}`;
}
