// The icr provider against the TLS fake IAM: what it sends (POST, form encoding, grant type, the
// key or the compute-resource token and profile), what it makes of IAM's answers (iambearer
// credentials for every domain, the expiry IAM gives), and how IAM's refusals are classified.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { makeCA } from "../../rig/certs.ts";
import { ICR_USERNAME } from "../../../providers/icr/index.ts";
import { APIKEY_GRANT, CR_TOKEN_GRANT, UNSOURCED_CODE, serviceAccountToken } from "./fake-iam.ts";
import {
  CLUSTER_ISSUER,
  REGISTRIES,
  apiKeyProvider,
  fetchTrusting,
  icr,
  mintError,
  startHarness,
  writeFile,
  type Harness,
} from "./harness.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
}, 60_000);
afterAll(() => h?.close());
afterEach(() => {
  h.iam.override = null;
  h.iam.expiryFields = "both";
  h.iam.expirationSkew = 0;
  h.iam.tokenLifetime = 3600;
});

const signal = () => new AbortController().signal;

function crTokenFile(opts: Partial<Parameters<typeof serviceAccountToken>[1]> = {}, key = h.clusterKey) {
  const token = serviceAccountToken(key, {
    issuer: CLUSTER_ISSUER,
    namespace: "regcred",
    serviceAccount: "regcred",
    ...opts,
  });
  return { token, file: writeFile(h, "sa-token", token) };
}

describe("icr provider: API key", () => {
  it("exchanges the key for an access token, written as iambearer under every domain, expiring when IAM says", async () => {
    const before = h.iam.tokenRequests().length;
    const { provider } = apiKeyProvider(h);
    const creds = await provider.mint(signal());

    const requests = h.iam.tokenRequests().slice(before);
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({
      method: "POST",
      contentType: "application/x-www-form-urlencoded",
      form: { grant_type: APIKEY_GRANT, apikey: h.apiKey },
      status: 200,
    });
    const issued = h.iam.issued.at(-1)!;
    expect(creds).toEqual([
      {
        registries: REGISTRIES,
        username: ICR_USERNAME,
        password: issued.token,
        expiresAt: new Date(issued.expiration * 1000),
      },
    ]);
    expect(ICR_USERNAME).toBe("iambearer");
  });

  it("takes expiration over expires_in, falls back to expires_in, and refuses an answer with neither", async () => {
    const { provider } = apiKeyProvider(h);
    h.iam.expirationSkew = -1200; // expiration says 40 min, expires_in says 60
    let [c] = await provider.mint(signal());
    expect(c!.expiresAt).toEqual(new Date(h.iam.issued.at(-1)!.expiration * 1000));

    h.iam.expiryFields = "expires_in";
    h.iam.tokenLifetime = 1800;
    const t0 = Date.now();
    [c] = await provider.mint(signal());
    const t1 = Date.now();
    expect(c!.expiresAt!.getTime()).toBeGreaterThanOrEqual(t0 + 1_800_000);
    expect(c!.expiresAt!.getTime()).toBeLessThanOrEqual(t1 + 1_800_000);

    h.iam.expiryFields = "none";
    expect(await mintError(provider)).toMatchObject({
      reason: "invalid_response",
      message: expect.stringMatching(/gives no expiry \(expiration, expires_in\)/),
    });
  });

  it("classifies an unknown key (400 BXNIM0415E) as bad_credentials with IAM's code, message and requestId", async () => {
    const { provider } = apiKeyProvider(h, "not-a-key-iam-knows-0123456789abcdefghijkl");
    const err = await mintError(provider);
    expect(err.reason).toBe("bad_credentials");
    expect(err.message).toMatch(
      /^IAM token \(apikey\) from https:\/\/127\.0\.0\.1:\d+\/identity\/token: \[400 BXNIM0415E\] Provided API key could not be found\.$/,
    );
    expect(err.requestId).toMatch(/^[\w-]+-[0-9a-f]{32}$/);
  });

  it("reads a rotated key on the next mint without a restart", async () => {
    const { provider } = apiKeyProvider(h, "old-key-iam-no-longer-knows-0123456789abcd");
    expect((await mintError(provider)).reason).toBe("bad_credentials");
    writeFile(h, "apikey", h.apiKey);
    await expect(provider.mint(signal())).resolves.toHaveLength(1);
  });

  it.each([
    [429, "throttled"],
    [500, "network"],
    [503, "network"],
    [403, "access_denied"],
  ])("classifies IAM answering %i as %s", async (status, reason) => {
    h.iam.override = (_form, res) => {
      h.iam.fail(res, status, "BXNIM9999E", "Something went wrong.");
      return true;
    };
    const err = await mintError(apiKeyProvider(h).provider);
    expect(err).toMatchObject({ reason, message: expect.stringContaining(`[${status} BXNIM9999E]`) });
  });

  it("says so when the answer is not IAM's JSON (a proxy's error page), without quoting it", async () => {
    h.iam.override = (_form, res) => {
      res.statusCode = 502;
      res.end("<html><body>Bad Gateway from corporate-proxy</body></html>");
      return true;
    };
    const err = await mintError(apiKeyProvider(h).provider);
    expect(err.reason).toBe("network");
    expect(err.message).toMatch(/HTTP 502 \(not an IAM error body\)$/);
    expect(err.message).not.toContain("corporate-proxy");
  });

  it("refuses a 200 without an access_token, and a token that arrives already expired", async () => {
    h.iam.override = (_form, res) => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ token_type: "Bearer", expires_in: 3600 }));
      return true;
    };
    expect(await mintError(apiKeyProvider(h).provider)).toMatchObject({
      reason: "invalid_response",
      message: expect.stringMatching(/has no access_token$/),
    });
    h.iam.override = null;
    h.iam.expiryFields = "expiration";
    h.iam.expirationSkew = -7200;
    expect(await mintError(apiKeyProvider(h).provider)).toMatchObject({
      reason: "invalid_response",
      message: expect.stringMatching(/arrived already expired/),
    });
  });

  it("is network when IAM cannot be reached, and refuses a server its CA does not vouch for", async () => {
    await h.iam.down();
    try {
      expect(await mintError(apiKeyProvider(h).provider)).toMatchObject({
        reason: "network",
        message: expect.stringMatching(/cannot reach IAM \(ECONNREFUSED\)$/),
      });
    } finally {
      await h.iam.up();
    }
    // Another CA: the TLS handshake fails, nothing is sent.
    const before = h.iam.tokenRequests().length;
    const otherCa = await makeCA(mkdtempSync(join(h.dir, "other-ca-")), "another-ca");
    const other = fetchTrusting(readFileSync(otherCa.certFile, "utf8"));
    const err = await mintError(apiKeyProvider(h, h.apiKey, { clients: { fetch: other } }).provider);
    expect(err).toMatchObject({
      reason: "network",
      message: expect.stringMatching(
        /cannot reach IAM \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN)\)$/,
      ),
    });
    expect(h.iam.tokenRequests().length).toBe(before);
  });

  it("passes the refresher's abort through unchanged", async () => {
    h.iam.override = () => true; // never answers
    const controller = new AbortController();
    const reason = new Error("mint took longer than 30s");
    const pending = apiKeyProvider(h).provider.mint(controller.signal);
    setTimeout(() => controller.abort(reason), 50);
    await expect(pending).rejects.toBe(reason);
  });
});

describe("icr provider: trusted profile with a compute-resource token", () => {
  it("sends the projected token and the profile ID with the cr-token grant", async () => {
    const { token, file } = crTokenFile();
    const before = h.iam.tokenRequests().length;
    const { provider } = icr(h, { trustedProfile: { profileId: h.profile.id, crTokenFile: file } });
    const [c] = await provider.mint(signal());
    expect(h.iam.tokenRequests().slice(before)).toEqual([
      expect.objectContaining({
        contentType: "application/x-www-form-urlencoded",
        form: { grant_type: CR_TOKEN_GRANT, cr_token: token, profile_id: h.profile.id },
        status: 200,
      }),
    ]);
    expect(c).toMatchObject({ username: "iambearer", password: h.iam.issued.at(-1)!.token });
    expect(h.iam.issued.at(-1)!.subject).toBe(`iam-${h.profile.id}`);
  });

  it.each([
    ["profileName", "profile_name", () => h.profile.name],
    ["profileCrn", "profile_crn", () => h.profile.crn],
  ])("names the profile by %s as %s", async (setting, field, value) => {
    const { file } = crTokenFile();
    const before = h.iam.tokenRequests().length;
    await icr(h, { trustedProfile: { [setting]: value(), crTokenFile: file } }).provider.mint(signal());
    const [req] = h.iam.tokenRequests().slice(before);
    expect(req!.form[field]).toBe(value());
    expect(req!.status).toBe(200);
  });

  it("is access_denied (BXNIM0398E) for a service account the profile is not linked to", async () => {
    const { file } = crTokenFile({ namespace: "default", serviceAccount: "default" });
    const err = await mintError(
      icr(h, { trustedProfile: { profileId: h.profile.id, crTokenFile: file } }).provider,
    );
    expect(err.reason).toBe("access_denied");
    expect(err.message).toMatch(
      new RegExp(
        `trusted profile ${h.profile.id}\\) .*\\[400 BXNIM0398E\\] Selected trusted profile not eligible\\. The given token with identifier 'default:default'`,
      ),
    );
  });

  it.each([
    ["expired", () => crTokenFile({ now: Date.now() - 7_200_000 }), /is expired/],
    ["for another audience", () => crTokenFile({ audience: "https://kubernetes.default.svc" }), /audience/],
    [
      "from an untrusted issuer",
      () => crTokenFile({ issuer: "https://oidc.example.com" }),
      /not a trusted compute resource issuer/,
    ],
    [
      "signed by another key",
      () => crTokenFile({}, generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey),
      /signature is invalid/,
    ],
  ])("is bad_credentials for a compute-resource token %s", async (_what, make, detail) => {
    const { file } = make();
    const err = await mintError(
      icr(h, { trustedProfile: { profileId: h.profile.id, crTokenFile: file } }).provider,
    );
    expect(err.reason).toBe("bad_credentials");
    expect(err.message).toContain(`[400 ${UNSOURCED_CODE}]`);
    expect(err.message).toMatch(detail);
  });

  it("is source_unavailable when the projected token is not mounted, and sends nothing", async () => {
    const before = h.iam.tokenRequests().length;
    const err = await mintError(
      icr(h, { trustedProfile: { profileId: h.profile.id, crTokenFile: "/nonexistent/sa-token" } }).provider,
    );
    expect(err).toMatchObject({
      reason: "source_unavailable",
      message: "cannot read file /nonexistent/sa-token: ENOENT",
    });
    expect(h.iam.tokenRequests().length).toBe(before);
  });
});

// The fake's own refusals, straight over HTTPS: a provider success against it means these held.
describe("the fake IAM refuses what IAM refuses", () => {
  const post = (body: string, contentType = "application/x-www-form-urlencoded", method = "POST") =>
    h.fetch(`${h.iam.url}/identity/token`, {
      method,
      headers: { "content-type": contentType },
      ...(method === "GET" ? {} : { body }),
    });
  const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

  it.each([
    ["a GET", () => post("", "", "GET"), 405, "BXNIM0060E"],
    [
      "a JSON body",
      () => post(JSON.stringify({ grant_type: APIKEY_GRANT, apikey: h.apiKey }), "application/json"),
      400,
      "BXNIM0109E",
    ],
    ["no apikey", () => post(form({ grant_type: APIKEY_GRANT })), 400, "BXNIM0109E"],
    [
      "an unknown key",
      () => post(form({ grant_type: APIKEY_GRANT, apikey: `${h.apiKey}x` })),
      400,
      "BXNIM0415E",
    ],
    [
      "another grant type",
      () => post(form({ grant_type: "password", apikey: h.apiKey })),
      400,
      UNSOURCED_CODE,
    ],
    [
      "a cr-token grant without a profile",
      () => post(form({ grant_type: CR_TOKEN_GRANT, cr_token: crTokenFile().token })),
      400,
      "BXNIM0109E",
    ],
  ])("%s", async (_what, send, status, code) => {
    const res = await send();
    expect(res.status).toBe(status);
    const body = (await res.json()) as {
      errorCode: string;
      errorMessage: string;
      context: { requestId: string };
    };
    expect(body).toMatchObject({
      errorCode: code,
      errorMessage: expect.any(String),
      context: { requestId: expect.any(String) },
    });
  });

  it("issues a token for the known key, in IAM's shape", async () => {
    const before = Math.floor(Date.now() / 1000);
    const res = await post(form({ grant_type: APIKEY_GRANT, apikey: h.apiKey }));
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      token_type: "Bearer",
      expires_in: 3600,
      scope: "ibm openid",
      refresh_token: "not_supported",
    });
    expect(body["expiration"]).toBeGreaterThanOrEqual(before + 3600);
    expect(body["expiration"]).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 3600);
  });
});
