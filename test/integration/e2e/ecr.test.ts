// End to end, ecr provider: the real daemon with the real ecr provider (real @aws-sdk/client-ecr,
// endpoint from AWS_ENDPOINT_URL_ECR, static keys from files) mints from moto, writes Secret
// `pull` into namespaces of the rig's API server; each Secret is read back and crane pulls with it
// from the rig's registry, which stands in for ECR's registry endpoint: it holds user AWS with
// exactly the password moto issues, and is listed as a { host, region } alias (a bare host must
// be an ECR host: see providers/ecr/schema.ts).
import { ECRClient, GetAuthorizationTokenCommand } from "@aws-sdk/client-ecr";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startMoto, type Moto } from "../../rig/moto.ts";
import { pullWithDockerConfig, startRegistry, type Registry } from "../../rig/registry.ts";
import { awsEnv, keyDir } from "../../providers/ecr/harness.ts";
import { ANNOTATION_EXPIRES } from "../../../src/engine/plan.ts";
import { authsOf, runDaemonAndReadBack } from "./read-back.ts";

const REGION = "eu-west-1";
const OTHER_ACCOUNT = "210987654321";
const MIN_INTERVAL_MS = 2_000;

describe("e2e: ecr provider (moto) -> API server -> real pull", () => {
  let moto: Moto;
  let registry: Registry;
  let image: string;
  let dir: string;
  let restoreEnv: (() => void) | undefined;
  /** What moto's GetAuthorizationToken gives these keys, fetched once with the SDK directly. */
  let issued: { username: string; password: string; expiresAt: Date; proxyHost: string };

  beforeAll(async () => {
    moto = await startMoto();
    dir = keyDir(moto.credentials.accessKeyId, moto.credentials.secretAccessKey);
    // No developer keys, profile or endpoint may leak in; the SDK finds moto through the env var.
    restoreEnv = awsEnv({ AWS_ENDPOINT_URL_ECR: moto.endpoint, AWS_ENDPOINT_URL_STS: moto.endpoint });
    const sdk = new ECRClient({ region: REGION, credentials: moto.credentials });
    const data = (await sdk.send(new GetAuthorizationTokenCommand({}))).authorizationData![0]!;
    sdk.destroy();
    const decoded = Buffer.from(data.authorizationToken!, "base64").toString();
    const colon = decoded.indexOf(":");
    issued = {
      username: decoded.slice(0, colon),
      password: decoded.slice(colon + 1),
      expiresAt: data.expiresAt!,
      proxyHost: new URL(data.proxyEndpoint!).host,
    };
    // The registry accepts exactly moto's password for these keys' account, nothing else.
    registry = await startRegistry({ users: [{ username: issued.username, password: issued.password }] });
    image = await registry.pushImage("ecr/app", "v1");
  });
  beforeEach(async () => {
    await moto.reset();
  });
  afterAll(async () => {
    restoreEnv?.();
    await registry?.stop();
    await moto?.stop();
  });

  const entry = (extra = "") => `  - name: under-test
    provider: ecr
    region: ${REGION}
    registries: [{ host: "${registry.host}", region: ${REGION} }]
    auth:
      accessKeyIdFrom: { file: ${dir}/access-key-id }
      secretAccessKeyFrom: { file: ${dir}/secret-access-key }
    refresh: { minInterval: ${MIN_INTERVAL_MS / 1000}s }
${extra}`;

  it("static keys: every namespace's Secret pulls; moto's expired token is used, flagged and retried at minInterval", async () => {
    // Sanity of the premise: moto's token is AWS:<account>-auth-token and expired in 2015.
    expect(issued.username).toBe("AWS");
    expect(issued.password).toMatch(/^\d{12}-auth-token$/);
    expect(issued.expiresAt.getTime()).toBeLessThan(Date.now());

    let retry: { first: Date; nextAt: Date; second: Date } | undefined;
    const result = await runDaemonAndReadBack(entry(), {
      namespaces: 3,
      // While the daemon runs: the expired credential's next attempt is due minInterval later.
      whileRunning: async (daemon) => {
        const before = daemon.refresher.status()[0]!;
        const first = before.lastAttempt!;
        const deadline = Date.now() + 10 * MIN_INTERVAL_MS;
        while (daemon.refresher.status()[0]!.lastAttempt!.getTime() === first.getTime()) {
          if (Date.now() > deadline) throw new Error("no second refresh attempt within 20 s");
          await new Promise((r) => setTimeout(r, 100));
        }
        retry = { first, nextAt: before.nextRefreshAt!, second: daemon.refresher.status()[0]!.lastAttempt! };
      },
    });

    expect(result.secrets).toHaveLength(3);
    for (const secret of result.secrets) {
      expect(secret.type).toBe("kubernetes.io/dockerconfigjson");
      const auths = authsOf(secret.dockerconfigjson);
      expect(Object.keys(auths).sort()).toEqual([issued.proxyHost, registry.host].sort());
      expect(auths[registry.host]).toMatchObject({ username: "AWS", password: issued.password });
      // Used: the expired credential is in the Secret and the registry accepts it.
      expect(await pullWithDockerConfig(secret.dockerconfigjson, image)).toEqual({ ok: true });
      // Flagged: the Secret carries moto's true (past) expiry, not an assumed 12 h.
      expect(secret.annotations[ANNOTATION_EXPIRES]).toBe(issued.expiresAt.toISOString());
      expect(secret.annotations[ANNOTATION_EXPIRES]).toMatch(/^2015-/);
    }

    const logs = result.logs();
    expect(logs).toContain(
      `credential for under-test arrived already expired (clock skew, or a test server): using it, retrying in 2s`,
    );
    // Retried at minInterval: scheduled minInterval after the first attempt, and it happened.
    const { first, nextAt, second } = retry!;
    expect(nextAt.getTime() - first.getTime()).toBeGreaterThanOrEqual(MIN_INTERVAL_MS);
    expect(nextAt.getTime() - first.getTime()).toBeLessThan(MIN_INTERVAL_MS + 1_000);
    expect(second.getTime() - first.getTime()).toBeGreaterThanOrEqual(MIN_INTERVAL_MS);
    expect(second.getTime() - first.getTime()).toBeLessThan(MIN_INTERVAL_MS + 3_000);
    expect(logs).not.toContain(issued.password);
    expect(logs).not.toContain(moto.credentials.secretAccessKey);
  });

  it("control: another account's token (assume role into it) is refused by the registry with 401", async () => {
    const result = await runDaemonAndReadBack(
      // A control: the refused token must be rolled out (registryCheck: false) to be refused at pull.
      entry(
        `    assumeRole: { roleArn: "arn:aws:iam::${OTHER_ACCOUNT}:role/ecr-pull" }\n    registryCheck: false\n`,
      ),
      { namespaces: 1 },
    );
    const secret = result.secrets[0]!;
    const auths = authsOf(secret.dockerconfigjson);
    expect(auths[registry.host]!.username).toBe("AWS");
    expect(auths[registry.host]!.password).toBe(`${OTHER_ACCOUNT}-auth-token`);
    expect(auths[registry.host]!.password).not.toBe(issued.password);
    expect(await pullWithDockerConfig(secret.dockerconfigjson, image)).toMatchObject({
      ok: false,
      status: 401,
    });
  });
});
