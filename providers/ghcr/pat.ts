import type { Logger } from "pino";
import { callGitHub, type Fetch } from "./github.ts";

export interface PatCheck {
  /** From GitHub-Authentication-Token-Expiration: null when absent (no expiry), undefined when unreadable. */
  expiresAt: Date | null | undefined;
  /** From X-OAuth-Scopes; null when GitHub sent none (fine-grained PATs and non-PAT tokens). */
  scopes: string[] | null;
}

/**
 * Asks GitHub about the PAT with one call to the API root (GET {apiUrl}/). Any authenticated
 * REST response carries GitHub-Authentication-Token-Expiration and X-OAuth-Scopes; the root is
 * the cheapest that answers for every token: a fixed document, no resource lookup, no scope
 * needed, the same path on GitHub Enterprise Server. (GET /user does a user lookup; GET
 * /rate_limit is free on github.com but 404s on GHES with rate limiting disabled.) A revoked or
 * expired PAT answers 401, classified bad_credentials by callGitHub.
 */
export async function checkPat(
  apiUrl: string,
  token: string,
  signal: AbortSignal,
  fetch: Fetch,
): Promise<PatCheck> {
  const { headers } = await callGitHub(apiUrl, { method: "GET", path: "/", bearer: token, signal }, fetch);
  const scopes = headers.get("x-oauth-scopes");
  return {
    expiresAt: parseTokenExpiration(headers.get("github-authentication-token-expiration")),
    scopes:
      scopes === null
        ? null
        : scopes
            .split(",")
            .map((s) => s.trim())
            .filter((s) => s !== ""),
  };
}

// "2026-12-31 23:59:59 UTC" is the usual form; some tokens carry an offset instead of a zone
// name, "2023-04-26 20:23:26 +0200" (google/go-github#2649). ISO 8601 is accepted as well.
const EXPIRATION = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2}(?:\.\d+)?)\s*(UTC|GMT|Z|[+-]\d{2}:?\d{2})?$/i;

/** null for an absent header (no expiry); undefined for one that cannot be read. */
export function parseTokenExpiration(value: string | null): Date | null | undefined {
  if (value === null || value.trim() === "") return null;
  const m = EXPIRATION.exec(value.trim());
  if (!m) return undefined;
  const zone =
    m[3] === undefined || /^(utc|gmt|z)$/i.test(m[3]) ? "Z" : m[3].replace(/^([+-]\d{2})(\d{2})$/, "$1:$2");
  const at = new Date(`${m[1]}T${m[2]}${zone}`);
  return Number.isNaN(at.getTime()) ? undefined : at;
}

/** What ghcr.io needs to pull: read:packages, or write:packages, which GitHub documents as download + upload. */
const PULL_SCOPES = ["read:packages", "write:packages"];

/** Logs what would make ghcr.io refuse this PAT. Never logs the token itself. */
export function warnAboutPat(log: Logger, registry: string, token: string, check: PatCheck | null): void {
  if (token.startsWith("github_pat_")) {
    log.warn(
      `${registry}: the token is a fine-grained PAT; GitHub Packages accepts only classic PATs (read:packages), so pulls will be denied`,
    );
    return;
  }
  if (check?.scopes && !check.scopes.some((s) => PULL_SCOPES.includes(s))) {
    log.warn(
      { scopes: check.scopes },
      `${registry}: the PAT lacks the read:packages scope (has: ${check.scopes.join(", ") || "none"}); ghcr.io will deny pulls`,
    );
  }
}
