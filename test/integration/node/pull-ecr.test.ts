// ecr provider on the rig's node: the real daemon mints from moto (real @aws-sdk/client-ecr) and
// writes Secret `pull` under moto's registry host 123456789012.dkr.ecr.us-east-1.amazonaws.com;
// a Pod naming the Secret pulls from that very host name, served by the rig's registry over TLS,
// which accepts exactly moto's AWS password.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { greetingOf, pushRunnableImage } from "../../rig/app-image.ts";
import { startMoto, type Moto } from "../../rig/moto.ts";
import type { NodeClient } from "../../rig/node.ts";
import { serveRegistryAt, type ServedHost } from "../../rig/registry-hosts.ts";
import { startRegistry, type Registry } from "../../rig/registry.ts";
import { sharedNode } from "../../rig/shared-node.ts";
import { awsEnv, keyDir } from "../../providers/ecr/harness.ts";
import { authsOf } from "../e2e/read-back.ts";
import { daemonThenKubeletPull } from "./kubelet-pull.ts";

const REGION = "us-east-1";
const ECR_HOST = `123456789012.dkr.ecr.${REGION}.amazonaws.com`;

describe("node: ecr provider (moto) -> Secret -> kubelet pull from ACCOUNT.dkr.ecr.REGION.amazonaws.com", () => {
  let node: NodeClient;
  let moto: Moto;
  let registry: Registry;
  let ecr: ServedHost;
  let image: string;
  let dir: string;
  let restoreEnv: (() => void) | undefined;

  beforeAll(async () => {
    moto = await startMoto();
    dir = keyDir(moto.credentials.accessKeyId, moto.credentials.secretAccessKey);
    restoreEnv = awsEnv({ AWS_ENDPOINT_URL_ECR: moto.endpoint, AWS_ENDPOINT_URL_STS: moto.endpoint });
    // moto's token for its default account is AWS:123456789012-auth-token (under bcrypt's 72 bytes).
    registry = await startRegistry({ users: [{ username: "AWS", password: "123456789012-auth-token" }] });
    [node, ecr] = await Promise.all([sharedNode(), serveRegistryAt(registry, ECR_HOST)]);
    image = ecr.imageRef(await pushRunnableImage(registry, "team/ecr-app", "v1"));
  });
  afterAll(async () => {
    restoreEnv?.();
    await ecr?.stop();
    await registry?.stop();
    await moto?.stop();
  });

  it("static keys: a Pod pulls 123456789012.dkr.ecr.us-east-1.amazonaws.com/team/ecr-app:v1 through the Secret", async () => {
    const result = await daemonThenKubeletPull(
      node,
      `  - name: under-test
    provider: ecr
    region: ${REGION}
    auth:
      accessKeyIdFrom: { file: ${dir}/access-key-id }
      secretAccessKeyFrom: { file: ${dir}/secret-access-key }`,
      [image],
    );
    const auths = authsOf(result.secrets[0]!.dockerconfigjson);
    expect(Object.keys(auths)).toEqual([ECR_HOST]);
    expect(auths[ECR_HOST]).toMatchObject({ username: "AWS", password: "123456789012-auth-token" });
    expect(result.pulls[0]!.pulled).toMatch(
      /^Successfully pulled image "123456789012\.dkr\.ecr\.us-east-1\.amazonaws\.com\/team\/ecr-app:v1" in /,
    );
    expect(result.pulls[0]!.output).toBe(`${greetingOf("team/ecr-app", "v1")}\n`);
    expect(
      ecr.requests.some(
        (r) => r.path === "/v2/team/ecr-app/manifests/v1" && r.auth === "Basic" && r.status === 200,
      ),
    ).toBe(true);
    expect(result.logs).not.toContain("123456789012-auth-token");
  });
});
