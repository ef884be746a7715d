import { describe, expect, it } from "vitest";
import {
  AggregateAuthenticationError,
  AuthenticationError,
  CredentialUnavailableError,
} from "@azure/identity";
import { entraError, transportError } from "../../../providers/acr/errors.ts";
import { networkCode } from "../../../providers/network.ts";

/** Entra's error body, as the token endpoint sends it. */
function entraBody(code: number, text: string) {
  return JSON.stringify({
    error: "invalid_client",
    error_description: `AADSTS${code}: ${text}\r\nTrace ID: 0f1e2d3c-0000-0000-0000-000000000000\r\nCorrelation ID: 9a8b7c6d-1111-2222-3333-444455556666\r\nTimestamp: 2026-11-22 10:00:00Z`,
    error_codes: [code],
    correlation_id: "9a8b7c6d-1111-2222-3333-444455556666",
    trace_id: "0f1e2d3c-0000-0000-0000-000000000000",
  });
}

describe("Entra error classification", () => {
  it.each([
    [7000215, "Invalid client secret provided.", "bad_credentials"],
    [7000222, "The provided client secret keys for app are expired.", "expired_token"],
    [700016, "Application with identifier 'x' was not found in the directory 'y'.", "not_found"],
    [90002, "Tenant 'x' not found.", "not_found"],
    [
      700213,
      "No matching federated identity record found for presented assertion subject.",
      "bad_credentials",
    ],
    [700024, "Client assertion is not within its valid time range.", "expired_token"],
    [53003, "Access has been blocked by Conditional Access policies.", "access_denied"],
    [12345, "Something new.", "unknown"],
  ])("AADSTS%i -> %s", (code, text, reason) => {
    const err = entraError(
      new AuthenticationError(400, entraBody(code, text)),
      "Entra ID (servicePrincipal)",
    );
    expect(err.reason).toBe(reason);
    // The code and Entra's sentence, one line, without the trace block.
    expect(err.message).toBe(`Entra ID (servicePrincipal): AADSTS${code}: ${text}`);
    expect(err.requestId).toBe("9a8b7c6d-1111-2222-3333-444455556666");
  });

  it("finds the AADSTS code in a re-wrapped MSAL message too", () => {
    const err = entraError(
      new Error("invalid_client: AADSTS7000215: Invalid client secret provided. Trace ID: x"),
      "Entra ID",
    );
    expect(err.reason).toBe("bad_credentials");
  });

  it("calls a missing identity source source_unavailable, also in an aggregate from the default chain", () => {
    expect(
      entraError(new CredentialUnavailableError("ManagedIdentityCredential: no endpoint"), "Entra ID").reason,
    ).toBe("source_unavailable");
    const aggregate = new AggregateAuthenticationError(
      [new CredentialUnavailableError("a"), new CredentialUnavailableError("b")],
      "no credential",
    );
    expect(entraError(aggregate, "Entra ID").reason).toBe("source_unavailable");
  });

  it("finds a network error code in the cause chain or an aggregate's errors", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" });
    expect(networkCode(new Error("fetch failed", { cause: refused }))).toBe("ECONNREFUSED");
    expect(networkCode(new AggregateAuthenticationError([new Error("x", { cause: refused })]))).toBe(
      "ECONNREFUSED",
    );
    expect(networkCode(new Error("plain"))).toBeUndefined();
    expect(transportError(new TypeError("fetch failed", { cause: refused }), "ACR exchange").reason).toBe(
      "network",
    );
    // No answer at all is network, code or not (the shared mapping); a timeout is timeout.
    expect(transportError(new Error("boom"), "ACR exchange").reason).toBe("network");
    expect(transportError(new DOMException("timed out", "TimeoutError"), "ACR exchange").reason).toBe(
      "timeout",
    );
  });

  it("throttled when Entra answers 429 without an AADSTS code", () => {
    expect(entraError(new AuthenticationError(429, "slow down"), "Entra ID").reason).toBe("throttled");
  });
});
