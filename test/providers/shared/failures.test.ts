import { describe, expect, it } from "vitest";
import * as z from "../../../src/base/zod.ts";
import { ClusterError, ProviderError } from "../../../providers/contract.ts";
import { parseAnswer, reasonFor, statusReason } from "../../../providers/kit.ts";
import { classifyGoogleError } from "../../../providers/gcr/errors.ts";
import { transportError } from "../../../providers/acr/errors.ts";
import { classifyFailure } from "../../../providers/ghcr/github.ts";
import { iamHttpError, iamTransportError } from "../../../providers/icr/errors.ts";
import { classify as classifyAws } from "../../../providers/ecr/errors.ts";
import { classifyKubeError } from "../../../providers/mirror/errors.ts";

const timedOut = () => new DOMException("The operation timed out.", "TimeoutError");

describe("the shared failure mapping", () => {
  it.each([
    [401, "bad_credentials"],
    [403, "access_denied"],
    [404, "not_found"],
    [408, "timeout"],
    [429, "throttled"],
    [500, "network"],
    [503, "network"],
    [400, "unknown"],
    [409, "unknown"],
  ] as const)("HTTP %i is %s", (status, reason) => {
    expect(statusReason(status)).toBe(reason);
  });

  it("a provider's table comes first, by code, then by status", () => {
    const table = { codes: { SlowDown: "throttled" }, statuses: { 400: "bad_credentials" } } as const;
    expect(reasonFor({ status: 503, code: "SlowDown" }, table)).toBe("throttled");
    expect(reasonFor({ status: 400, code: "Other" }, table)).toBe("bad_credentials");
    expect(reasonFor({ status: 400 })).toBe("unknown");
  });

  it("no answer: timeout when it ran out of time, network when it did not get through, else unknown", () => {
    expect(reasonFor({ err: timedOut() })).toBe("timeout");
    expect(reasonFor({ err: Object.assign(new Error("x"), { code: "ECONNREFUSED" }) })).toBe("network");
    expect(reasonFor({ err: new Error("fetch failed"), noAnswer: true })).toBe("network");
    expect(reasonFor({ err: new Error("a bug") })).toBe("unknown");
  });
});

// The disagreement this mapping ended: 5xx was network for mirror and unknown for gcr, ghcr and
// icr; a timeout was network in ECR and timeout in ACR.
describe("every provider says the same for the same failure", () => {
  const unavailable: Record<string, () => ProviderError | string> = {
    gcr: () => classifyGoogleError({ message: "Service Unavailable", response: { status: 503 } }, "token"),
    ghcr: () =>
      classifyFailure("POST", "https://api.github.com/x", {
        status: 503,
        headers: new Headers(),
        body: null,
      }),
    icr: () => iamHttpError("IAM token", 503, "<html>busy</html>"),
    ecr: () => classifyAws({ name: "ServiceUnavailableException", $metadata: { httpStatusCode: 503 } }),
    mirror: () => classifyKubeError(new ClusterError(503, "etcd is sad"), "Secret a/b"),
    acr: () => statusReason(503),
  };
  const timeouts: Record<string, () => ProviderError | string> = {
    gcr: () => classifyGoogleError(timedOut(), "token"),
    acr: () => transportError(timedOut(), "ACR exchange"),
    icr: () => iamTransportError("IAM token", timedOut()),
    ecr: () => classifyAws(timedOut()),
    mirror: () => classifyKubeError(timedOut(), "Secret a/b"),
  };
  const reasonOf = (r: ProviderError | string) => (typeof r === "string" ? r : r.reason);

  it.each(Object.keys(unavailable))("%s: a 503 is network", (kind) => {
    expect(reasonOf(unavailable[kind]!())).toBe("network");
  });
  it.each(Object.keys(timeouts))("%s: a timeout is timeout", (kind) => {
    expect(reasonOf(timeouts[kind]!())).toBe("timeout");
  });
});

describe("parseAnswer", () => {
  const schema = z.object({ token: z.string().check(z.minLength(1)), expires_in: z.number() });

  it("returns the parsed answer", () => {
    expect(parseAnswer(schema, { token: "t", expires_in: 3 }, "token")).toEqual({
      token: "t",
      expires_in: 3,
    });
  });

  it("fails as invalid_response naming paths, never values", () => {
    const secret = "s3cr3t-value-that-must-not-leak";
    let err: unknown;
    try {
      parseAnswer(schema, { token: secret, expires_in: secret, extra: secret }, "token", {
        requestId: "r-1",
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ reason: "invalid_response", requestId: "r-1" });
    expect((err as Error).message).toContain("expires_in: expected number");
    expect((err as Error).message).not.toContain(secret);
  });
});
