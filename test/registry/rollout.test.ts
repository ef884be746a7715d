// verifyMinted: which hosts a minted credential is checked on, with what, and how the answers
// of several hosts add up (only a 401/403 anywhere holds the credentials back).
import { describe, expect, it } from "vitest";
import { hostsOf, verifyMinted } from "../../src/registry/rollout.ts";
import type { Verdict, VerifyRequest } from "../../src/registry/verify.ts";
import type { Credential } from "../../providers/contract.ts";

const cred = (registries: string[], password = "pw-1234"): Credential => ({
  registries,
  username: "u",
  password,
  expiresAt: null,
});

function registryAnswering(byHost: Record<string, Verdict>) {
  const requests: VerifyRequest[] = [];
  const accepted: Verdict = { result: "accepted", scheme: "basic" };
  const check = (req: VerifyRequest): Promise<Verdict> => {
    requests.push(req);
    return Promise.resolve(byHost[req.host] ?? accepted);
  };
  return { requests, check };
}

const signal = new AbortController().signal;

describe("hostsOf", () => {
  it("asks each API host once: Docker Hub's keys are registry-1.docker.io, paths dropped, wildcards skipped", () => {
    expect(
      hostsOf(
        cred([
          "https://index.docker.io/v1/",
          "docker.io",
          "ghcr.io/octo",
          "ghcr.io",
          "*.corp.example",
          "127.0.0.1:5000",
        ]),
      ),
    ).toEqual(["registry-1.docker.io", "ghcr.io", "127.0.0.1:5000"]);
  });
});

describe("verifyMinted", () => {
  it("passes the credential, repository, timeout and plain HTTP for loopback hosts only", async () => {
    const { requests, check } = registryAnswering({});
    const v = await verifyMinted(
      [cred(["ghcr.io", "localhost:5000"])],
      { repository: "team/app", timeout: 3_000 },
      check,
      signal,
    );
    expect(v.result).toBe("accepted");
    expect(requests.map((r) => [r.host, r.plainHttp, r.repository, r.timeoutMs, r.password])).toEqual([
      ["ghcr.io", false, "team/app", 3_000, "pw-1234"],
      ["localhost:5000", true, "team/app", 3_000, "pw-1234"],
    ]);
    expect(requests.every((r) => r.signal === signal)).toBe(true);
  });

  it("a rejection on any host wins over unreachable and accepted ones; 403 is a rejection too", async () => {
    const { check } = registryAnswering({
      "a.example": { result: "unreachable", message: "a.example: ECONNREFUSED" },
      "b.example": { result: "rejected", status: 403, message: "b.example answered 403" },
    });
    const v = await verifyMinted(
      [cred(["a.example"]), cred(["b.example", "c.example"])],
      { timeout: 1 },
      check,
      signal,
    );
    expect(v).toMatchObject({ result: "rejected", message: "b.example answered 403" });
    expect(v.hosts.map((h) => h.result)).toEqual(["unreachable", "rejected", "accepted"]);
  });

  it("unreachable wins over accepted; accepted wins over unverifiable; a 404 is unverifiable", async () => {
    const { check } = registryAnswering({
      "a.example": { result: "unreachable", message: "a.example answered 503" },
      "n.example": { result: "rejected", status: 404, message: "n.example (repository x/y) answered 404" },
      "o.example": { result: "unverifiable", message: "o.example/v2/ asks for no credential" },
    });
    expect(
      (await verifyMinted([cred(["a.example", "b.example"])], { timeout: 1 }, check, signal)).result,
    ).toBe("unreachable");
    expect(
      (await verifyMinted([cred(["o.example", "b.example"])], { timeout: 1 }, check, signal)).result,
    ).toBe("accepted");
    const notFound = await verifyMinted([cred(["n.example"])], { timeout: 1 }, check, signal);
    expect(notFound).toMatchObject({ result: "unverifiable" });
    expect(notFound.message).toContain("answered 404");
  });

  it("only wildcard keys: nothing to ask, unverifiable", async () => {
    const { requests, check } = registryAnswering({});
    expect((await verifyMinted([cred(["*.corp.example"])], { timeout: 1 }, check, signal)).result).toBe(
      "unverifiable",
    );
    expect(requests).toEqual([]);
  });
});
