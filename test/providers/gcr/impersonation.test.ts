import { useNock } from "../../helpers/nock.ts";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { googleEnv, startMetadataServer, type MetadataServer } from "./metadata-server.ts";
import { gcr, HOSTS, mintFailure, signal, underRefresher } from "./harness.ts";

const S = 1_000;
const TARGET = "ar-reader@registry-project.iam.gserviceaccount.com";
const DELEGATE = "hop@middle-project.iam.gserviceaccount.com";
let server: MetadataServer;
// Only 127.0.0.1 (the fake metadata server) may be reached; Google's hosts are intercepted.
const nock = useNock({ allowLoopback: true });
let restoreEnv: () => void;

beforeAll(async () => {
  server = await startMetadataServer();
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  server.behave({ ok: { expiresIn: 3599 } });
  restoreEnv = googleEnv({ GCE_METADATA_HOST: server.host, METADATA_SERVER_DETECTION: "assume-present" });
});
afterEach(() => {
  restoreEnv();
});

interface GenerateAccessTokenCall {
  path: string;
  authorization: string | null;
  body: { delegates?: string[]; scope?: string[]; lifetime?: string };
}

/** Intercepts IAM Credentials on its real host; records each call, answers with `reply`. */
function iamCredentials(reply: (call: GenerateAccessTokenCall) => [number, Record<string, unknown>]) {
  const calls: GenerateAccessTokenCall[] = [];
  nock("https://iamcredentials.googleapis.com")
    .post(/^\/v1\/projects\/-\/serviceAccounts\/[^/]+:generateAccessToken$/)
    .reply(async (req: Request) => {
      expect(req.headers.get("content-type")).toMatch(/^application\/json/);
      const call = {
        path: decodeURIComponent(new URL(req.url).pathname),
        authorization: req.headers.get("authorization"),
        body: (await req.json()) as GenerateAccessTokenCall["body"],
      };
      calls.push(call);
      return reply(call);
    });
  return calls;
}

const issued = (token: string, expireTime: string) => (): [number, Record<string, unknown>] => [
  200,
  { accessToken: token, expireTime },
];

describe("gcr provider: impersonation (IAM Credentials generateAccessToken)", () => {
  it("sends the target in the path, scope, delegates and lifetime in the body, the source token as bearer", async () => {
    const expireTime = new Date(Math.floor(Date.now() / 1000) * 1000 + 600 * S).toISOString();
    const calls = iamCredentials(issued("ya29.impersonated-token-1", expireTime));
    const [credential] = await gcr({
      metadataServer: true,
      scopes: ["https://www.googleapis.com/auth/devstorage.read_only"],
      impersonate: { serviceAccount: TARGET, delegates: [DELEGATE], lifetime: "10m" },
    }).provider.mint(signal());

    expect(calls).toHaveLength(1);
    const [call] = calls;
    expect(call!.path).toBe(`/v1/projects/-/serviceAccounts/${TARGET}:generateAccessToken`);
    expect(call!.authorization).toBe(`Bearer ${server.issued.at(-1)}`);
    expect(call!.body).toEqual({
      delegates: [DELEGATE],
      scope: ["https://www.googleapis.com/auth/devstorage.read_only"],
      lifetime: "600s",
    });
    // The source token was asked for with cloud-platform, which IAM Credentials requires.
    expect(server.requests.at(-1)!.query.get("scopes")).toBe(
      "https://www.googleapis.com/auth/cloud-platform",
    );

    expect(credential).toEqual({
      registries: HOSTS,
      username: "oauth2accesstoken",
      password: "ya29.impersonated-token-1",
      expiresAt: new Date(expireTime),
    });
  });

  it("defaults: cloud-platform scope, no delegates, IAM's own lifetime", async () => {
    const calls = iamCredentials(
      issued("ya29.impersonated-token-2", new Date(Date.now() + 3600 * S).toISOString()),
    );
    await gcr({ metadataServer: true, impersonate: { serviceAccount: TARGET } }).provider.mint(signal());
    expect(calls[0]!.body).toEqual({
      delegates: [],
      scope: ["https://www.googleapis.com/auth/cloud-platform"],
      lifetime: "3600s",
    });
  });

  it("a response without expireTime is invalid_response", async () => {
    iamCredentials(() => [200, { accessToken: "ya29.impersonated-no-expiry" }]);
    const err = await mintFailure(
      gcr({ metadataServer: true, impersonate: { serviceAccount: TARGET } }).provider,
    );
    expect(err.reason).toBe("invalid_response");
    expect(err.message).toMatch(/^impersonating ar-reader@/);
  });

  it("PERMISSION_DENIED is access_denied and NOT_FOUND is not_found, with Google's status in the message", async () => {
    const failing = gcr({ metadataServer: true, impersonate: { serviceAccount: TARGET } }).provider;
    iamCredentials(() => [
      403,
      {
        error: {
          code: 403,
          message: `Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).`,
          status: "PERMISSION_DENIED",
        },
      },
    ]);
    const denied = await mintFailure(failing);
    expect(denied.reason).toBe("access_denied");
    expect(denied.message).toMatch(/\[403 PERMISSION_DENIED\].*iam\.serviceAccounts\.getAccessToken/);

    iamCredentials(() => [
      404,
      {
        error: {
          code: 404,
          message: `Not found; Gaia id not found for email ${TARGET}`,
          status: "NOT_FOUND",
        },
      },
    ]);
    const missing = await mintFailure(failing);
    expect(missing.reason).toBe("not_found");
    expect(missing.message).toMatch(/\[404 NOT_FOUND\].*Gaia id not found/);
  });

  it("UNAUTHENTICATED is bad_credentials; RESOURCE_EXHAUSTED, after the library's own retries, is throttled", async () => {
    const failing = gcr({ metadataServer: true, impersonate: { serviceAccount: TARGET } }).provider;
    iamCredentials(() => [
      401,
      {
        error: {
          code: 401,
          message: "Request had invalid authentication credentials.",
          status: "UNAUTHENTICATED",
        },
      },
    ]);
    const unauthenticated = await mintFailure(failing);
    expect(unauthenticated.reason).toBe("bad_credentials");
    expect(unauthenticated.message).toMatch(/\[401 UNAUTHENTICATED\]/);

    for (let i = 0; i < 4; i++) {
      iamCredentials(() => [
        429,
        { error: { code: 429, message: "Quota exceeded", status: "RESOURCE_EXHAUSTED" } },
      ]);
    }
    const throttled = await mintFailure(failing);
    expect(throttled.reason).toBe("throttled");
    expect(throttled.message).toMatch(/\[429 RESOURCE_EXHAUSTED\].*Quota exceeded/);
    // google-auth-library retried 429 three times before giving up: four calls in all.
    expect(nock.isDone()).toBe(true);
  }, 20_000);

  it("a failing source is named as such, and impersonation is not attempted", async () => {
    const calls = iamCredentials(issued("ya29.never", new Date(Date.now() + 3600 * S).toISOString()));
    server.behave({ status: 403, body: "Forbidden" });
    const err = await mintFailure(
      gcr({ metadataServer: true, impersonate: { serviceAccount: TARGET } }).provider,
    );
    expect(err.reason).toBe("access_denied");
    expect(err.message).toMatch(/^token from metadata server: \[403\]/);
    expect(calls).toEqual([]);
    // The IAM mock is there to catch a call that must not come; it is meant to be left unused.
    nock.cleanAll();
  });

  it("under the Refresher: expiry is expireTime, and neither token reaches the logs", async () => {
    const expireTime = new Date(Date.now() + 900 * S).toISOString();
    iamCredentials(issued("ya29.impersonated-logged-nowhere", expireTime));
    const { provider, lines: providerLines } = gcr({
      metadataServer: true,
      impersonate: { serviceAccount: TARGET },
    });
    const { refresher, lines } = underRefresher(provider, { margin: 60 * S });
    refresher.start();
    await refresher.settled();
    const [status] = refresher.status();
    expect(status!.expiresAt).toEqual(new Date(expireTime));
    const planned = (status!.expiresAt!.getTime() - status!.lastSuccess!.getTime()) / 2;
    expect(
      Math.abs(status!.nextRefreshAt!.getTime() - status!.lastSuccess!.getTime() - planned),
    ).toBeLessThan(2 * S);

    iamCredentials(() => [403, { error: { code: 403, message: "denied", status: "PERMISSION_DENIED" } }]);
    await refresher.refresh("gcr");
    expect(refresher.status()[0]!.lastError!.reason).toBe("access_denied");
    expect(refresher.credentials().get("gcr")![0]!.password).toBe("ya29.impersonated-logged-nowhere");
    await refresher.stop();

    const logged = [...lines, ...providerLines].join("\n");
    expect(logged).toContain("refresh of gcr failed (access_denied)");
    expect(logged).not.toContain("ya29.impersonated-logged-nowhere");
    for (const source of server.issued) expect(logged).not.toContain(source);
  });
});
