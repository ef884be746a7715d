import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { FakeGitHub } from "./fake-github.ts";
import { ghcr, tempDir, underRefresher, waitFor, warnings, writeSecret } from "./setup.ts";
import { captureLogger } from "../../helpers/log.ts";
import { DEFAULT_REFRESH } from "../../../src/base/refresh.ts";

const APP_ID = 424242;
const CLIENT_ID = "Iv23liFakeClient0001";
const INSTALLATION = 777;
const MIN = 60_000;

let fake: FakeGitHub;
let publicKey: KeyObject;
let pkcs1Pem: string;
let keyFile: string;
let dir: string;

beforeAll(async () => {
  const pair = generateKeyPairSync("rsa", { modulusLength: 2048 });
  publicKey = pair.publicKey;
  // GitHub hands out App keys in PKCS#1 ("BEGIN RSA PRIVATE KEY").
  pkcs1Pem = pair.privateKey.export({ type: "pkcs1", format: "pem" }) as string;
  dir = tempDir();
  keyFile = writeSecret(dir, "app.pem", pkcs1Pem);
  fake = await new FakeGitHub().start();
});
afterAll(async () => {
  await fake.stop();
});
beforeEach(() => {
  fake.app = {
    appId: APP_ID,
    clientId: CLIENT_ID,
    publicKey,
    installations: new Map([
      [INSTALLATION, { permissions: { packages: "read", contents: "read" }, repositories: ["api", "web"] }],
    ]),
  };
  fake.clockOffsetMs = 0;
});

function appSetup(app: Record<string, unknown> = {}, capture = captureLogger()) {
  return ghcr(
    {
      apiUrl: fake.url,
      registries: ["ghcr.io"],
      app: { appId: APP_ID, installationId: INSTALLATION, privateKeyFrom: { file: keyFile }, ...app },
    },
    dir,
    {},
    capture,
  );
}

const claims = (jwt: string) =>
  JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString()) as Record<string, unknown>;

describe("ghcr App mode", () => {
  it("an installation token answer that does not parse is invalid_response, and its token is never echoed", async () => {
    const { provider, capture } = appSetup();
    const token = "ghs_parsedNotCastToken0123456789abcdefXY";
    fake.failNext(201, { token, expires_at: `soon ${token}`, permissions: { packages: "read" } });
    const err = await provider.mint(AbortSignal.timeout(5_000)).then(
      () => null,
      (e: unknown) => e as { reason?: string; message?: string },
    );
    expect(err).toMatchObject({ reason: "invalid_response" });
    expect(err!.message).toContain("expires_at");
    expect(err!.message).not.toContain(token);
    expect(capture.lines.join("")).not.toContain(token);
  });

  it("mints an installation token with a JWT the fake verifies; refresh is scheduled at about half its hour", async () => {
    const { provider, capture } = appSetup();
    const { refresher } = underRefresher(provider, DEFAULT_REFRESH, capture);
    const before = fake.minted.length;
    const startedAt = Date.now();
    refresher.start();
    await refresher.settled();

    expect(fake.minted.length).toBe(before + 1);
    const minted = fake.minted.at(-1)!;
    expect(minted.body).toEqual({ permissions: { packages: "read" } });
    expect(claims(minted.jwt)).toMatchObject({ iss: APP_ID });
    const expiresAt = new Date(minted.expiresAt);
    expect(refresher.credentials().get("ghcr")).toEqual([
      { registries: ["ghcr.io"], username: "x-access-token", password: minted.token, expiresAt },
    ]);
    const next = refresher.status()[0]!.nextRefreshAt!.getTime();
    expect(next).toBeLessThan(expiresAt.getTime());
    expect(next).toBeGreaterThan(startedAt + 25 * MIN);
    expect(next).toBeLessThan(startedAt + 35 * MIN);
    expect(warnings(capture.records)).toEqual([
      "ghcr: App installation tokens log in to ghcr.io but are reported denied on pull; GitHub documents classic PATs only (see providers/ghcr/README.md)",
    ]);
    await refresher.stop();
  });

  it("asks only for the listed repositories, signing as the client ID when given", async () => {
    const { provider } = appSetup({
      appId: undefined,
      clientId: CLIENT_ID,
      installationId: String(INSTALLATION),
      repositories: ["api"],
    });
    await provider.mint(AbortSignal.timeout(5000));
    const minted = fake.minted.at(-1)!;
    expect(minted.body).toEqual({ permissions: { packages: "read" }, repositories: ["api"] });
    expect(claims(minted.jwt).iss).toBe(CLIENT_ID);
  });

  it("refreshes under the Refresher before the token expires", async () => {
    fake.app!.tokenLifetimeMs = 4000;
    const { provider } = appSetup();
    const { refresher } = underRefresher(provider, {
      ...DEFAULT_REFRESH,
      jitter: 0,
      minInterval: 1000,
      margin: 0,
    });
    const before = fake.minted.length;
    refresher.start();
    await refresher.settled();
    const first = fake.minted.at(-1)!;
    await waitFor(() => fake.minted.length >= before + 2, 6000);
    expect(fake.minted[before + 1]!.at).toBeLessThan(Date.parse(first.expiresAt));
    await waitFor(() => refresher.credentials().get("ghcr")![0]!.password === fake.minted[before + 1]!.token);
    await refresher.stop();
  });

  it("an App not installed (404 on the installation) is not_found, with GitHub's request id", async () => {
    const { provider } = appSetup({ installationId: 999 });
    await expect(provider.mint(AbortSignal.timeout(5000))).rejects.toMatchObject({
      reason: "not_found",
      requestId: expect.stringMatching(/^FAKE:/),
      message: expect.stringMatching(
        /POST http:\/\/127\.0\.0\.1:\d+\/app\/installations\/999\/access_tokens answered 404: Not Found/,
      ),
    });
  });

  it("rate limits are throttled; a permission the installation lacks is access_denied", async () => {
    const { provider } = appSetup();
    const mint = () => provider.mint(AbortSignal.timeout(5000));
    fake.failNext(
      403,
      { message: "API rate limit exceeded for installation ID 777." },
      { "x-ratelimit-remaining": "0", "x-ratelimit-reset": "1893456000" },
    );
    await expect(mint()).rejects.toMatchObject({
      reason: "throttled",
      message: expect.stringContaining("limit resets at 2030-01-01T00:00:00.000Z"),
    });
    fake.failNext(429, { message: "You have exceeded a secondary rate limit." }, { "retry-after": "120" });
    await expect(mint()).rejects.toMatchObject({ reason: "throttled" });

    fake.app!.installations.set(INSTALLATION, { permissions: { contents: "read" }, repositories: ["api"] });
    await expect(mint()).rejects.toMatchObject({
      reason: "access_denied",
      message: expect.stringContaining("not granted to this installation"),
    });
  });

  it("a JWT signed with another key fails the fake's signature check: bad_credentials", async () => {
    const other = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({
      type: "pkcs8",
      format: "pem",
    }) as string;
    const { provider } = appSetup({ privateKeyFrom: { file: writeSecret(tempDir(), "other.pem", other) } });
    await expect(provider.mint(AbortSignal.timeout(5000))).rejects.toMatchObject({
      reason: "bad_credentials",
      message: expect.stringContaining("A JSON web token could not be decoded"),
    });
  });

  it("re-signs once on GitHub's clock when the JWT is rejected for clock skew, and keeps the difference", async () => {
    fake.clockOffsetMs = 10 * MIN;
    const { provider, records } = appSetup();
    const rejectedBefore = fake.rejectedJwts.length;
    const mintedBefore = fake.minted.length;
    await provider.mint(AbortSignal.timeout(5000));
    expect(fake.rejectedJwts.length).toBe(rejectedBefore + 1);
    expect(fake.minted.length).toBe(mintedBefore + 1);
    const skew = records().find((r) => r.skewSeconds !== undefined)?.skewSeconds as number;
    expect(Math.abs(skew - 600)).toBeLessThanOrEqual(2);
    await provider.mint(AbortSignal.timeout(5000));
    expect(fake.rejectedJwts.length).toBe(rejectedBefore + 1);
  });

  it("a private key that is not PEM is bad_credentials naming the source, not the value", async () => {
    const junk = "not-a-key-but-secret-material-12345";
    const { provider } = appSetup({ privateKeyFrom: { file: writeSecret(tempDir(), "junk.pem", junk) } });
    const err = await provider.mint(AbortSignal.timeout(5000)).catch((e: unknown) => e);
    expect(err).toMatchObject({
      reason: "bad_credentials",
      message: expect.stringMatching(
        /^the App private key from file \/.*junk\.pem is not a PEM private key$/,
      ),
    });
  });

  it("never logs the installation token, the App JWT or the private key", async () => {
    fake.clockOffsetMs = -5 * MIN; // a skew rejection too, so a rejected JWT goes through the error path
    const capture = captureLogger("debug");
    const { provider } = appSetup({}, capture);
    const { refresher } = underRefresher(provider, DEFAULT_REFRESH, capture);
    const mintedBefore = fake.minted.length;
    const rejectedBefore = fake.rejectedJwts.length;
    refresher.start();
    await refresher.settled();
    fake.app!.installations.clear();
    await refresher.refresh("ghcr");
    expect(refresher.status()[0]!.lastError?.reason).toBe("not_found");

    const secrets = [
      ...fake.minted.slice(mintedBefore).flatMap((m) => [m.token, m.jwt]),
      ...fake.rejectedJwts.slice(rejectedBefore),
      pkcs1Pem,
      pkcs1Pem.split("\n")[5]!,
    ];
    expect(secrets.length).toBeGreaterThanOrEqual(5);
    const text = capture.lines.join("");
    for (const s of secrets) expect(text).not.toContain(s);
    expect(text).not.toContain("**redacted**");
    await refresher.stop();
  });
});
