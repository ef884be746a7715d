import { writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeGitHub, classicPat, expirationHeader } from "./fake-github.ts";
import { ghcr, tempDir, underRefresher, waitFor, warnings, writeSecret } from "./setup.ts";
import { find, parsePrometheus } from "../../helpers/prom.ts";

const DAY = 86_400_000;
// GitHub's header has whole seconds.
const inDays = (n: number) => new Date(Math.floor((Date.now() + n * DAY) / 1000) * 1000);

let fake: FakeGitHub;
beforeAll(async () => {
  fake = await new FakeGitHub().start();
});
afterAll(async () => {
  await fake.stop();
});

function patSetup(pat: string, extra: Record<string, unknown> = {}) {
  const dir = tempDir();
  const file = writeSecret(dir, "token", pat);
  return {
    ...ghcr(
      { username: "ci-bot", tokenFrom: { file }, apiUrl: fake.url, registries: ["ghcr.io"], ...extra },
      dir,
    ),
    file,
  };
}

describe("ghcr PAT mode", () => {
  it("sends exactly the PAT; its expiration header becomes expiresAt and the expiry metric", async () => {
    const pat = classicPat();
    const expires = inDays(30);
    fake.pats.set(pat, { expiration: expirationHeader(expires), scopes: "read:packages, repo" });
    const { provider, capture } = patSetup(pat);
    const { refresher, metrics } = underRefresher(provider, undefined, capture);
    const before = fake.requests.length;
    refresher.start();
    await refresher.settled();

    expect(fake.requests.slice(before)).toEqual([
      { method: "GET", path: "/", authorization: `Bearer ${pat}` },
    ]);
    expect(refresher.credentials().get("ghcr")).toEqual([
      { registries: ["ghcr.io"], username: "ci-bot", password: pat, expiresAt: expires },
    ]);
    const [series] = find(
      parsePrometheus(await metrics.text()),
      "regcred_credential_expiry_timestamp_seconds",
      {
        registry: "ghcr",
        provider: "ghcr",
      },
    );
    expect(series?.value).toBe(expires.getTime() / 1000);
    const [status] = refresher.status();
    expect(status!.state).toBe("ok");
    expect(status!.nextRefreshAt!.getTime()).toBeLessThan(expires.getTime());
    expect(warnings(capture.records)).toEqual([]);
    await refresher.stop();
  });

  it("reads the expiration with an offset instead of a zone name", async () => {
    const pat = classicPat();
    fake.pats.set(pat, { expiration: "2027-03-01 12:00:00 +0200", scopes: "read:packages" });
    const [cred] = await patSetup(pat).provider.mint(AbortSignal.timeout(2000));
    expect(cred!.expiresAt).toEqual(new Date("2027-03-01T10:00:00Z"));
  });

  it("a PAT without an expiration header does not expire: expiresAt null, no expiry series", async () => {
    const pat = classicPat();
    fake.pats.set(pat, { scopes: "read:packages" });
    const { provider, capture } = patSetup(pat);
    const { refresher, metrics } = underRefresher(provider, undefined, capture);
    refresher.start();
    await refresher.settled();
    expect(refresher.credentials().get("ghcr")![0]!.expiresAt).toBeNull();
    expect(
      find(parsePrometheus(await metrics.text()), "regcred_credential_expiry_timestamp_seconds"),
    ).toEqual([]);
    expect(refresher.status()[0]!.nextRefreshAt).toBeNull();
    await refresher.stop();
  });

  it("an unreadable expiration header is logged and the expiry treated as unknown", async () => {
    const pat = classicPat();
    fake.pats.set(pat, { expiration: "sometime next year", scopes: "read:packages" });
    const { provider, records } = patSetup(pat);
    const [cred] = await provider.mint(AbortSignal.timeout(2000));
    expect(cred!.expiresAt).toBeNull();
    expect(warnings(records)).toEqual([
      "ghcr: unreadable GitHub-Authentication-Token-Expiration header; expiry unknown",
    ]);
  });

  it("warns when the PAT lacks read:packages, and not when write:packages (which includes download) is there", async () => {
    const weak = classicPat();
    fake.pats.set(weak, { expiration: expirationHeader(inDays(7)), scopes: "repo, workflow" });
    const w = patSetup(weak);
    await w.provider.mint(AbortSignal.timeout(2000));
    expect(warnings(w.records)).toEqual([
      "ghcr: the PAT lacks the read:packages scope (has: repo, workflow); ghcr.io will deny pulls",
    ]);

    const writer = classicPat();
    fake.pats.set(writer, { scopes: "write:packages" });
    const ok = patSetup(writer);
    await ok.provider.mint(AbortSignal.timeout(2000));
    expect(warnings(ok.records)).toEqual([]);
  });

  it("warns that a fine-grained PAT is not accepted by GitHub Packages", async () => {
    const fine = `github_pat_${"A1b2C3d4E5".repeat(8)}`;
    fake.pats.set(fine, { expiration: expirationHeader(inDays(90)) });
    const { provider, records } = patSetup(fine);
    await provider.mint(AbortSignal.timeout(2000));
    expect(warnings(records)).toEqual([
      "ghcr: the token is a fine-grained PAT; GitHub Packages accepts only classic PATs (read:packages), so pulls will be denied",
    ]);
  });

  it("a revoked PAT (401) is bad_credentials with GitHub's request id, and the last good credential is kept", async () => {
    const pat = classicPat();
    fake.pats.set(pat, { expiration: expirationHeader(inDays(30)), scopes: "read:packages" });
    const { provider, capture } = patSetup(pat);
    const { refresher } = underRefresher(provider, undefined, capture);
    refresher.start();
    await refresher.settled();
    expect(refresher.credentials().get("ghcr")![0]!.password).toBe(pat);

    fake.pats.delete(pat);
    await refresher.refresh("ghcr");

    expect(refresher.credentials().get("ghcr")![0]!.password).toBe(pat);
    const [status] = refresher.status();
    expect(status!.lastError?.reason).toBe("bad_credentials");
    expect(status!.lastError?.message).toMatch(
      /GET http:\/\/127\.0\.0\.1:\d+\/ answered 401: Bad credentials/,
    );
    expect(status!.usable).toBe(true);
    const failure = capture.records().find((r) => r.reason === "bad_credentials");
    expect(failure?.requestId).toMatch(/^FAKE:\d+:[0-9A-F]{8}$/);
    await refresher.stop();
  });

  it("re-reads the token when its file changes and checks the new one", async () => {
    const first = classicPat();
    const second = classicPat();
    fake.pats.set(first, { scopes: "read:packages" });
    fake.pats.set(second, { expiration: expirationHeader(inDays(60)), scopes: "read:packages" });
    const { provider, file, capture } = patSetup(first);
    const { refresher } = underRefresher(provider, undefined, capture);
    refresher.start();
    await refresher.settled();
    expect(refresher.credentials().get("ghcr")![0]!.password).toBe(first);

    writeFileSync(file, `${second}\n`);
    await waitFor(() => refresher.credentials().get("ghcr")![0]!.password === second);
    expect(fake.requests.at(-1)!.authorization).toBe(`Bearer ${second}`);
    expect(refresher.credentials().get("ghcr")![0]!.expiresAt).not.toBeNull();
    await refresher.stop();
  });

  it("GitHub Enterprise Server: calls {apiUrl}/ under /api/v3 and writes containers.HOST by default", async () => {
    const ghes = await new FakeGitHub("/api/v3").start();
    try {
      const pat = classicPat();
      ghes.pats.set(pat, { scopes: "read:packages" });
      const dir = tempDir();
      const { provider } = ghcr(
        { username: "octo", tokenFrom: { file: writeSecret(dir, "t", pat) }, apiUrl: ghes.url },
        dir,
      );
      const [cred] = await provider.mint(AbortSignal.timeout(2000));
      expect(ghes.requests.map((r) => r.path)).toEqual(["/api/v3/"]);
      expect(cred!.registries).toEqual(["containers.127.0.0.1"]);
    } finally {
      await ghes.stop();
    }
  });

  it("verify: false uses the PAT without calling the API", async () => {
    const pat = classicPat();
    const before = fake.requests.length;
    const [cred] = await patSetup(pat, { verify: false }).provider.mint(AbortSignal.timeout(2000));
    expect(fake.requests.length).toBe(before);
    expect(cred).toEqual({ registries: ["ghcr.io"], username: "ci-bot", password: pat, expiresAt: null });
  });

  it("classifies GitHub's failures: rate limits, permissions, server errors, network", async () => {
    const pat = classicPat();
    fake.pats.set(pat, { scopes: "read:packages" });
    const { provider } = patSetup(pat);
    const mint = () => provider.mint(AbortSignal.timeout(2000));
    const reset = String(Math.floor(Date.now() / 1000) + 600);

    fake.failNext(
      403,
      { message: "API rate limit exceeded for user ID 1." },
      { "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset },
    );
    await expect(mint()).rejects.toMatchObject({
      reason: "throttled",
      requestId: expect.stringMatching(/^FAKE:/),
    });
    fake.failNext(403, { message: "You have exceeded a secondary rate limit." }, { "retry-after": "60" });
    await expect(mint()).rejects.toMatchObject({
      reason: "throttled",
      message: expect.stringContaining("retry after 60s"),
    });
    fake.failNext(429, { message: "Too many requests" }, { "retry-after": "30" });
    await expect(mint()).rejects.toMatchObject({ reason: "throttled" });
    fake.failNext(
      403,
      { message: "Resource protected by organization SAML enforcement." },
      { "x-ratelimit-remaining": "4999" },
    );
    await expect(mint()).rejects.toMatchObject({ reason: "access_denied" });
    fake.failNext(502, { message: "Server Error" });
    await expect(mint()).rejects.toMatchObject({ reason: "network" });

    const closed = await new FakeGitHub().start();
    const url = closed.url;
    await closed.stop();
    const offline = patSetup(pat, { apiUrl: url }).provider;
    await expect(offline.mint(AbortSignal.timeout(2000))).rejects.toMatchObject({
      reason: "network",
      message: expect.stringContaining("ECONNREFUSED"),
    });
  });

  it("never logs the PAT", async () => {
    const pat = classicPat();
    fake.pats.set(pat, { expiration: expirationHeader(inDays(3)), scopes: "repo" });
    const { provider, capture } = patSetup(pat);
    const { refresher } = underRefresher(provider, undefined, capture);
    refresher.start();
    await refresher.settled();
    fake.pats.delete(pat);
    await refresher.refresh("ghcr");
    const text = capture.lines.join("");
    expect(capture.lines.length).toBeGreaterThan(2);
    expect(text).not.toContain(pat);
    expect(text).not.toContain(Buffer.from(pat).toString("base64"));
    // Nothing was even handed to the logger for masking.
    expect(text).not.toContain("**redacted**");
    await refresher.stop();
  });
});
