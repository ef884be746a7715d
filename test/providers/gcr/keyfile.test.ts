import { generateKeyPairSync } from "node:crypto";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { useNock } from "../../helpers/nock.ts";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { googleEnv } from "./metadata-server.ts";
import {
  formBody,
  OAUTH2_TOKEN_URL,
  verifyRs256,
  writeServiceAccountKey,
  type ServiceAccountKey,
} from "./google-apis.ts";
import { gcr, HOSTS, mintFailure, signal, underRefresher } from "./harness.ts";

const S = 1_000;
let key: ServiceAccountKey;
// Only 127.0.0.1 (the fake metadata server) may be reached; Google's hosts are intercepted.
const nock = useNock({ allowLoopback: true });
let restoreEnv: () => void;

beforeAll(() => {
  key = writeServiceAccountKey();
});
beforeEach(() => {
  // No metadata server and no ADC anywhere: only the key file can work.
  restoreEnv = googleEnv({ METADATA_SERVER_DETECTION: "none" });
});
afterEach(() => {
  restoreEnv();
});

/** Intercepts the real token endpoint: records each exchange's form, answers with `reply`. */
function tokenEndpoint(reply: [number, Record<string, unknown>] | (() => [number, Record<string, unknown>])) {
  const seen: Array<{ form: URLSearchParams }> = [];
  const scope = nock("https://oauth2.googleapis.com")
    .post("/token")
    .reply(async (req: Request) => {
      seen.push({ form: await formBody(req) });
      return typeof reply === "function" ? reply() : reply;
    });
  return { seen, scope };
}

const issue = (token: string, expiresIn?: number) => () =>
  [
    200,
    {
      access_token: token,
      token_type: "Bearer",
      ...(expiresIn === undefined ? {} : { expires_in: expiresIn }),
    },
  ] as [number, Record<string, unknown>];

describe("gcr provider: service account key file", () => {
  it("signs an RS256 JWT assertion that verifies with the key's public half, sent to oauth2.googleapis.com", async () => {
    const { seen, scope } = tokenEndpoint(issue("ya29.key-file-token-1", 1799));
    const started = Date.now();
    const [credential] = await gcr({ credentialsFile: key.file }).provider.mint(signal());
    const finished = Date.now();
    // The key's token_uri (token-uri.invalid) is not where the request went: the library's URL is fixed.
    expect(scope.isDone()).toBe(true);
    expect(seen).toHaveLength(1);
    const { form } = seen[0]!;
    expect(form.get("grant_type")).toBe("urn:ietf:params:oauth:grant-type:jwt-bearer");
    const { header, claims } = verifyRs256(form.get("assertion")!, key.publicKey);
    expect(header.alg).toBe("RS256");
    expect(claims.iss).toBe(key.email);
    expect(claims.aud).toBe(OAUTH2_TOKEN_URL);
    expect(claims.scope).toBe("https://www.googleapis.com/auth/cloud-platform");
    expect(Number(claims.exp) - Number(claims.iat)).toBe(3600);
    expect(Math.abs(Number(claims.iat) * S - started)).toBeLessThan(5 * S);
    // Not vacuous: another key's public half does not verify the same assertion.
    const stranger = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey;
    expect(() => verifyRs256(form.get("assertion")!, stranger)).toThrow(/does not verify/);

    expect(credential!.registries).toEqual(HOSTS);
    expect(credential!.username).toBe("oauth2accesstoken");
    expect(credential!.password).toBe("ya29.key-file-token-1");
    // expires_in counts from the answer, which came between started and finished (however slow
    // the machine): a bound on the clock, not on the machine's speed.
    const expiresAt = credential!.expiresAt!.getTime();
    expect(expiresAt).toBeGreaterThanOrEqual(started + 1799 * S);
    expect(expiresAt).toBeLessThanOrEqual(finished + 1799 * S);
  });

  it("puts configured scopes in the assertion's scope claim, space-separated", async () => {
    const { seen } = tokenEndpoint(issue("ya29.key-file-token-2", 3599));
    await gcr({
      credentialsFile: key.file,
      scopes: [
        "https://www.googleapis.com/auth/devstorage.read_only",
        "https://www.googleapis.com/auth/cloud-platform.read-only",
      ],
    }).provider.mint(signal());
    const { claims } = verifyRs256(seen[0]!.form.get("assertion")!, key.publicKey);
    expect(claims.scope).toBe(
      "https://www.googleapis.com/auth/devstorage.read_only https://www.googleapis.com/auth/cloud-platform.read-only",
    );
  });

  it("resolves a relative credentialsFile against the config's folder", async () => {
    tokenEndpoint(issue("ya29.key-file-token-3", 3599));
    const [credential] = await gcr({ credentialsFile: path.basename(key.file) }, key.dir).provider.mint(
      signal(),
    );
    expect(credential!.password).toBe("ya29.key-file-token-3");
  });

  it("a key named by GOOGLE_APPLICATION_CREDENTIALS is found by ADC, the default", async () => {
    process.env.GOOGLE_APPLICATION_CREDENTIALS = key.file;
    process.env.GOOGLE_CLOUD_PROJECT = "regcred-test";
    const { seen } = tokenEndpoint(issue("ya29.adc-key-token", 3599));
    const [credential] = await gcr({}).provider.mint(signal());
    expect(credential!.password).toBe("ya29.adc-key-token");
    expect(verifyRs256(seen[0]!.form.get("assertion")!, key.publicKey).claims.iss).toBe(key.email);
  });

  it("invalid_grant is bad_credentials, with Google's error code in the message", async () => {
    tokenEndpoint([400, { error: "invalid_grant", error_description: "Invalid JWT Signature." }]);
    const err = await mintFailure(gcr({ credentialsFile: key.file }).provider);
    expect(err.reason).toBe("bad_credentials");
    expect(err.message).toMatch(/\[400 invalid_grant\] invalid_grant: Invalid JWT Signature\./);
  });

  it("a token response without expires_in is invalid_response, not a guessed hour", async () => {
    tokenEndpoint(issue("ya29.no-expiry-token"));
    const err = await mintFailure(gcr({ credentialsFile: key.file }).provider);
    expect(err.reason).toBe("invalid_response");
  });

  it("refuses files that are not a service_account or external_account key, without quoting them", async () => {
    const notJson = path.join(key.dir, "not-json");
    writeFileSync(notJson, key.json.private_key);
    const userCreds = path.join(key.dir, "user.json");
    writeFileSync(userCreds, JSON.stringify({ type: "authorized_user", refresh_token: "1//refresh-secret" }));
    for (const [file, pattern] of [
      [notJson, /is not valid JSON$/],
      [userCreds, /type "authorized_user"; expected service_account or external_account/],
    ] as const) {
      const err = await mintFailure(gcr({ credentialsFile: file }).provider);
      expect(err.reason).toBe("bad_credentials");
      expect(err.message).toMatch(pattern);
      expect(err.message).not.toContain("PRIVATE KEY");
      expect(err.message).not.toContain("refresh-secret");
    }
    const missing = await mintFailure(gcr({ credentialsFile: path.join(key.dir, "absent.json") }).provider);
    expect(missing.reason).toBe("source_unavailable");
  });

  it("watches the key file, so a rotated key is used at once", async () => {
    const rotating = writeServiceAccountKey("rotating.json");
    const { provider } = gcr({ credentialsFile: rotating.file });
    let changes = 0;
    const stop = provider.watch!(() => changes++);
    try {
      writeFileSync(rotating.file, JSON.stringify({ ...rotating.json, private_key_id: "rotated" }));
      for (let i = 0; i < 50 && changes === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(changes).toBeGreaterThan(0);
    } finally {
      stop();
    }
  });

  it("under the Refresher: the token, the private key and the assertion never reach the logs", async () => {
    const { seen } = tokenEndpoint(issue("ya29.logged-nowhere-token", 1799));
    const { provider, lines: providerLines } = gcr({ credentialsFile: key.file });
    const { refresher, lines } = underRefresher(provider, { retry: { initial: 5 * S, max: 60 * S } });
    refresher.start();
    await refresher.settled();
    expect(refresher.status()[0]!.state).toBe("ok");
    tokenEndpoint([400, { error: "invalid_grant", error_description: "Invalid JWT Signature." }]);
    await refresher.refresh("gcr");
    expect(refresher.status()[0]!.lastError!.reason).toBe("bad_credentials");
    expect(refresher.credentials().get("gcr")![0]!.password).toBe("ya29.logged-nowhere-token");
    await refresher.stop();

    const logged = [...lines, ...providerLines].join("\n");
    expect(logged).toContain("refresh of gcr failed (bad_credentials)");
    expect(logged).not.toContain("ya29.logged-nowhere-token");
    expect(logged).not.toContain(seen[0]!.form.get("assertion")!);
    const keyBody = key.json.private_key.split("\n")[1]!;
    expect(logged).not.toContain(keyBody);
  });
});
