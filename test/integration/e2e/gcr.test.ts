// End to end, gcr provider: the real daemon with the real gcr provider (google-auth-library's
// Compute client / ADC, found through GCE_METADATA_HOST) takes a token from the fake GCE metadata
// server (test/providers/gcr/metadata-server.ts: it checks Metadata-Flavor and answers like the
// real one), writes Secret `pull` into namespaces of the rig's API server; the Secret is read back.
//
// The rig's registry is listed as an extra host (`{ host: ... }`, as for a pull-through cache), so
// the pull uses the read-back .dockerconfigjson exactly as the API server holds it.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startRegistry, pullWithDockerConfig, type Registry } from "../../rig/registry.ts";
import { googleEnv, startMetadataServer, type MetadataServer } from "../../providers/gcr/metadata-server.ts";
import { ANNOTATION_EXPIRES } from "../../../src/engine/plan.ts";
import { authsOf, runDaemonAndReadBack } from "./read-back.ts";

const HOSTS = ["europe-docker.pkg.dev", "eu.gcr.io"];
const EXPIRES_IN_S = 300;
const USERNAME = "oauth2accesstoken";

describe("e2e: gcr provider (metadata server) -> API server -> real pull", () => {
  let metadata: MetadataServer;
  let registry: Registry;
  let image: string;
  let restoreEnv: (() => void) | undefined;

  beforeAll(async () => {
    metadata = await startMetadataServer();
    // Token auth: the rig's token server compares the whole password; users are set per test
    // once the metadata server has issued the token (immediate in token mode).
    registry = await startRegistry({ auth: "token" });
    image = await registry.pushImage("gar/app", "v1");
  });
  beforeEach(() => {
    metadata.behave({ ok: { expiresIn: EXPIRES_IN_S } });
    restoreEnv = googleEnv({
      GCE_METADATA_HOST: metadata.host,
      METADATA_SERVER_DETECTION: "assume-present",
      // An empty gcloud config folder: no well-known ADC file can shadow the metadata server.
      CLOUDSDK_CONFIG: mkdtempSync(path.join(tmpdir(), "regcred-e2e-gcloud-")),
    });
  });
  afterEach(async () => {
    restoreEnv?.();
    await registry.setUsers([]);
  });
  afterAll(async () => {
    await registry?.stop();
    await metadata?.close();
  });

  it.each([
    ["metadataServer: true", "    metadataServer: true\n"],
    ["Application Default Credentials (falls through to the metadata server)", ""],
  ])("%s: the read-back token pulls; expires-at is expires_in (5 min) out", async (_mode, source) => {
    const issuedBefore = metadata.issued.length;
    const tokenRequestsBefore = registry.tokenServer!.requests.length;
    const started = Date.now();
    const result = await runDaemonAndReadBack(
      `  - name: under-test
    provider: gcr
    registryCheck: false # the registry learns the minted token only after rollout
${source}    registries: [${HOSTS.join(", ")}, { host: "${registry.host}" }]`,
    );
    const finished = Date.now();

    // Exactly one token minted for this run, through a Metadata-Flavor: Google request.
    expect(metadata.issued.length).toBe(issuedBefore + 1);
    const token = metadata.issued.at(-1)!;
    expect(
      metadata.requests.filter((r) => r.path.endsWith("/token")).every((r) => r.flavor === "Google"),
    ).toBe(true);

    // The registry accepts exactly that token for oauth2accesstoken.
    await registry.setUsers([{ username: USERNAME, password: token }]);

    expect(result.secrets).toHaveLength(2);
    for (const secret of result.secrets) {
      expect(secret.type).toBe("kubernetes.io/dockerconfigjson");
      const auths = authsOf(secret.dockerconfigjson);
      expect(Object.keys(auths).sort()).toEqual([...HOSTS, registry.host].sort());
      for (const host of HOSTS) {
        expect(auths[host]).toEqual({
          username: USERNAME,
          password: token,
          auth: Buffer.from(`${USERNAME}:${token}`).toString("base64"),
        });
      }
      // The true expiry from expires_in: 300 s after the mint, not an assumed hour.
      const expiresAt = Date.parse(secret.annotations[ANNOTATION_EXPIRES]!);
      expect(expiresAt).toBeGreaterThanOrEqual(started + (EXPIRES_IN_S - 5) * 1000);
      expect(expiresAt).toBeLessThanOrEqual(finished + EXPIRES_IN_S * 1000);

      expect(auths[registry.host]).toEqual(auths[HOSTS[0]!]);
      // The Secret's own .dockerconfigjson, as read back from the API server.
      expect(await pullWithDockerConfig(secret.dockerconfigjson, image)).toEqual({ ok: true });
    }
    // Each pull went through the token server as oauth2accesstoken, and each was granted.
    const asUser = registry
      .tokenServer!.requests.slice(tokenRequestsBefore)
      .filter((r) => r.username === USERNAME);
    expect(asUser.length).toBeGreaterThanOrEqual(result.secrets.length);
    expect(asUser.every((r) => r.ok)).toBe(true);
    expect(result.logs()).not.toContain(token);
  });

  it("control: another token from the same metadata server is refused with 401", async () => {
    const result = await runDaemonAndReadBack(
      `  - name: under-test
    provider: gcr
    metadataServer: true
    registryCheck: false # a control: the refused token must be rolled out to be refused at pull
    registries: [${HOSTS.join(", ")}, { host: "${registry.host}" }]`,
      { namespaces: 1 },
    );
    const { password } = authsOf(result.secrets[0]!.dockerconfigjson)[registry.host]!;
    expect(password).toBe(metadata.issued.at(-1));
    // The registry knows some other token the metadata server issued, not the Secret's.
    const other = await fetch(
      `http://${metadata.host}/computeMetadata/v1/instance/service-accounts/default/token`,
      {
        headers: { "Metadata-Flavor": "Google" },
      },
    );
    const otherToken = ((await other.json()) as { access_token: string }).access_token;
    expect(otherToken).not.toBe(password);
    await registry.setUsers([{ username: USERNAME, password: otherToken }]);
    expect(await pullWithDockerConfig(result.secrets[0]!.dockerconfigjson, image)).toMatchObject({
      ok: false,
      status: 401,
    });
  });
});
