// moto's ECR GetAuthorizationToken, through @aws-sdk/client-ecr, yields a credential the real
// registry accepts (htpasswd user AWS with moto's fixed password).
import { ECRClient, GetAuthorizationTokenCommand } from "@aws-sdk/client-ecr";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startMoto, type Moto } from "../../rig/moto.ts";
import { pullWithDockerConfig, startRegistry, type Registry } from "../../rig/registry.ts";

describe("rig: moto (ECR) + registry", () => {
  let moto: Moto;
  let reg: Registry;
  let image = "";
  let ecr: ECRClient;

  beforeAll(async () => {
    [moto, reg] = await Promise.all([
      startMoto(),
      // moto's token is base64("AWS:<registryId>-auth-token"); its default account is 123456789012.
      startRegistry({ users: [{ username: "AWS", password: "123456789012-auth-token" }] }),
    ]);
    image = await reg.pushImage("ecr/app", "latest");
    ecr = new ECRClient({ endpoint: moto.endpoint, region: moto.region, credentials: moto.credentials });
  });
  beforeEach(async () => {
    await moto.reset();
  });
  afterAll(async () => {
    ecr?.destroy();
    await Promise.all([moto?.stop(), reg?.stop()]);
  });

  it("GetAuthorizationToken returns a token the registry accepts for a pull", async () => {
    const out = await ecr.send(new GetAuthorizationTokenCommand({}));
    const data = out.authorizationData?.[0];
    expect(data?.authorizationToken).toBeTruthy();
    const decoded = Buffer.from(data?.authorizationToken ?? "", "base64").toString("utf8");
    const i = decoded.indexOf(":");
    const [username, password] = [decoded.slice(0, i), decoded.slice(i + 1)];
    expect(username).toBe("AWS");
    expect(password).toBe("123456789012-auth-token");
    // moto's quirk the daemon must handle: expiresAt is already in the past.
    expect(data?.expiresAt?.getTime()).toBeLessThan(Date.now());
    expect(await pullWithDockerConfig(reg.dockerConfigJson(username, password), image)).toEqual({ ok: true });
    expect(await pullWithDockerConfig(reg.dockerConfigJson(username, password + "x"), image)).toMatchObject({
      ok: false,
      status: 401,
    });
  });

  it("reset clears moto's state", async () => {
    const { CreateRepositoryCommand, DescribeRepositoriesCommand } = await import("@aws-sdk/client-ecr");
    await ecr.send(new CreateRepositoryCommand({ repositoryName: "rig-reset" }));
    const before = await ecr.send(new DescribeRepositoriesCommand({}));
    expect(before.repositories?.map((r) => r.repositoryName)).toContain("rig-reset");
    await moto.reset();
    const after = await ecr.send(new DescribeRepositoriesCommand({}));
    expect(after.repositories ?? []).toHaveLength(0);
  });
});
