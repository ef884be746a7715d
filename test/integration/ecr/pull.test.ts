// moto's ECR token, minted by the ecr provider under the real Refresher and rendered by the
// real plan() into a .dockerconfigjson, is accepted by the rig's registry for a pull (crane).
// The registry stands in for ECR's registry endpoint: it holds htpasswd user AWS with moto's
// password for account 123456789012, and is reached through a { host, region } alias.
// Writing the Secret into a cluster is NOT covered here (the Kubernetes writer is not built yet).
import { ECRClient } from "@aws-sdk/client-ecr";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config/load.ts";
import { createSecretReader } from "../../../src/config/secret-reader.ts";
import { Refresher } from "../../../src/engine/refresher.ts";
import { plan } from "../../../src/engine/plan.ts";
import { Metrics } from "../../../src/observe/metrics.ts";
import { createEcrProvider } from "../../../providers/ecr/index.ts";
import type { EcrSettings } from "../../../providers/ecr/schema.ts";
import { startMoto, type Moto } from "../../rig/moto.ts";
import { pullWithDockerConfig, startRegistry, type Registry } from "../../rig/registry.ts";
import { captureLogger } from "../../helpers/log.ts";
import { awsEnv, keyDir } from "../../providers/ecr/harness.ts";

describe("ecr: a minted token pulls from a registry (plan's dockerconfigjson, crane)", () => {
  let moto: Moto;
  let reg: Registry;
  let image = "";
  let dir: string;
  let restoreEnv: () => void;

  beforeAll(async () => {
    [moto, reg] = await Promise.all([
      startMoto(),
      startRegistry({ users: [{ username: "AWS", password: "123456789012-auth-token" }] }),
    ]);
    image = await reg.pushImage("ecr/app", "v1");
    dir = keyDir(moto.credentials.accessKeyId, moto.credentials.secretAccessKey);
    restoreEnv = awsEnv();
  });
  beforeEach(async () => {
    await moto.reset();
  });
  afterAll(async () => {
    restoreEnv?.();
    await Promise.all([moto?.stop(), reg?.stop()]);
  });

  async function render(extra: string): Promise<{ json: string; lines: string[] }> {
    const yaml = `registries:
  - name: prod-ecr
    provider: ecr
    region: eu-west-1
    registries: [{ host: "${reg.host}", region: eu-west-1 }]
    auth: { accessKeyIdFrom: { file: access-key-id }, secretAccessKeyFrom: { file: secret-access-key } }
${extra}
secrets:
  - name: regcred-ecr
    registries: [prod-ecr]
`;
    const config = parseConfig(`${dir}/regcred.yaml`, yaml);
    const entry = config.registries[0]!;
    const { log, lines } = captureLogger("info");
    const provider = createEcrProvider(
      entry.settings as EcrSettings,
      { log, secrets: createSecretReader(dir) },
      {
        ecr: (cfg) => new ECRClient({ ...cfg, endpoint: moto.endpoint }),
        stsConfig: { endpoint: moto.endpoint },
      },
    );
    const refresher = new Refresher(
      [{ name: entry.name, kind: entry.provider, policy: entry.refresh, provider }],
      {
        log,
        metrics: new Metrics(),
      },
    );
    refresher.start();
    await refresher.settled();
    await refresher.stop();
    const out = plan(config.secrets, refresher.credentials(), [{ name: "team-a", labels: {} }]);
    expect(out.problems).toEqual([]);
    expect(out.secrets.map((s) => `${s.namespace}/${s.name}`)).toEqual(["team-a/regcred-ecr"]);
    return { json: out.bodies[0]!.dockerconfigjson, lines };
  }

  it("the rendered dockerconfigjson (ECR host + alias) pulls the image", async () => {
    const { json, lines } = await render("");
    const auths = (
      JSON.parse(json) as { auths: Record<string, { username: string; password: string; auth: string }> }
    ).auths;
    expect(Object.keys(auths).sort()).toEqual(
      ["123456789012.dkr.ecr.eu-west-1.amazonaws.com", reg.host].sort(),
    );
    expect(auths[reg.host]).toMatchObject({
      username: "AWS",
      auth: Buffer.from("AWS:123456789012-auth-token").toString("base64"),
    });
    expect(await pullWithDockerConfig(json, image)).toEqual({ ok: true });
    expect(lines.join("")).not.toContain("123456789012-auth-token");
  });

  it("control: another account's token (assume role into 210987654321) is refused with 401", async () => {
    const { json } = await render(`    assumeRole: { roleArn: "arn:aws:iam::210987654321:role/ecr-pull" }`);
    expect(json).toContain(Buffer.from("AWS:210987654321-auth-token").toString("base64"));
    expect(await pullWithDockerConfig(json, image)).toMatchObject({ ok: false, status: 401 });
  });
});
