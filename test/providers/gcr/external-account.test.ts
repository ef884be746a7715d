import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { useNock } from "../../helpers/nock.ts";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { googleEnv } from "./metadata-server.ts";
import { formBody } from "./google-apis.ts";
import { gcr, mintFailure, signal } from "./harness.ts";

const S = 1_000;
const AUDIENCE =
  "//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/ci/providers/k8s";
let dir: string;
let configFile: string;
let subjectTokenFile: string;
// Only 127.0.0.1 (the fake metadata server) may be reached; Google's hosts are intercepted.
const nock = useNock({ allowLoopback: true });
let restoreEnv: () => void;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "regcred-gcr-wif-"));
  subjectTokenFile = path.join(dir, "token");
  configFile = path.join(dir, "wif.json");
  // What `gcloud iam workload-identity-pools create-cred-config ... --credential-source-file` writes.
  writeFileSync(
    configFile,
    JSON.stringify({
      type: "external_account",
      audience: AUDIENCE,
      subject_token_type: "urn:ietf:params:oauth:token-type:jwt",
      token_url: "https://sts.googleapis.com/v1/token",
      credential_source: { file: subjectTokenFile },
    }),
  );
});
beforeEach(() => {
  restoreEnv = googleEnv({ METADATA_SERVER_DETECTION: "none" });
});
afterEach(() => {
  restoreEnv();
});

function sts(reply: [number, Record<string, unknown>]) {
  const forms: URLSearchParams[] = [];
  nock("https://sts.googleapis.com")
    .post("/v1/token")
    .reply(async (req: Request) => {
      forms.push(await formBody(req));
      return reply;
    });
  return forms;
}

describe("gcr provider: workload identity federation (external_account file)", () => {
  it("exchanges the projected token for a Google access token, expiry from expires_in", async () => {
    // A Kubernetes projected ServiceAccount token: re-read on every mint, as kubelet rotates it.
    writeFileSync(subjectTokenFile, "eyJhbGciOiJSUzI1NiJ9.projected-ksa-token.sig");
    const forms = sts([
      200,
      {
        access_token: "ya29.federated-token",
        issued_token_type: "urn:ietf:params:oauth:token-type:access_token",
        token_type: "Bearer",
        expires_in: 1800,
      },
    ]);
    const started = Date.now();
    const [credential] = await gcr({ credentialsFile: configFile }).provider.mint(signal());
    expect(forms).toHaveLength(1);
    const form = forms[0]!;
    expect(form.get("grant_type")).toBe("urn:ietf:params:oauth:grant-type:token-exchange");
    expect(form.get("audience")).toBe(AUDIENCE);
    expect(form.get("subject_token")).toBe("eyJhbGciOiJSUzI1NiJ9.projected-ksa-token.sig");
    expect(form.get("subject_token_type")).toBe("urn:ietf:params:oauth:token-type:jwt");
    expect(form.get("requested_token_type")).toBe("urn:ietf:params:oauth:token-type:access_token");
    expect(form.get("scope")).toBe("https://www.googleapis.com/auth/cloud-platform");
    expect(credential!.password).toBe("ya29.federated-token");
    const lifetime = credential!.expiresAt!.getTime() - started;
    expect(lifetime).toBeGreaterThan(1790 * S);
    expect(lifetime).toBeLessThanOrEqual(1800 * S + 1_000);
  });

  it("an STS invalid_grant (e.g. a rejected subject token) is bad_credentials", async () => {
    writeFileSync(subjectTokenFile, "expired-projected-token");
    sts([
      400,
      {
        error: "invalid_grant",
        error_description: "The audience in ID Token does not match the expected audience.",
      },
    ]);
    const err = await mintFailure(gcr({ credentialsFile: configFile }).provider);
    expect(err.reason).toBe("bad_credentials");
    expect(err.message).toMatch(/\[400 invalid_grant\].*audience/);
  });
});
