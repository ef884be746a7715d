// icr provider on the rig's node: the real daemon trades the API key at the fake IAM (over HTTPS)
// for a one-hour access token and writes Secret `pull` with user iambearer under us.icr.io; a Pod
// naming it pulls us.icr.io/team-ns/icr-app:v1, served by the rig's registry under that name over
// TLS, which accepts exactly iambearer with the token IAM issued. A Pod whose Secret holds a token
// with one character changed is refused with 401 (negative control).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { greetingOf, pushRunnableImage } from "../../rig/app-image.ts";
import type { NodeClient } from "../../rig/node.ts";
import { serveRegistryAt, type ServedHost } from "../../rig/registry-hosts.ts";
import { startRegistry, type Registry } from "../../rig/registry.ts";
import { sharedNode } from "../../rig/shared-node.ts";
import { authsOf } from "../e2e/read-back.ts";
import { icrProviders, icrRegistryYaml, startIcrIam, type IcrIam } from "../e2e/icr-setup.ts";
import { daemonThenKubeletPull, pullWithWrongSecret } from "./kubelet-pull.ts";

const DOMAIN = "us.icr.io";
const BEARER = "iambearer";

describe("node: icr provider -> Secret -> kubelet pull from us.icr.io", () => {
  let node: NodeClient;
  let iam: IcrIam;
  let registry: Registry;
  let icr: ServedHost;
  let image: string;
  let token = "";

  beforeAll(async () => {
    iam = await startIcrIam();
    registry = await startRegistry({ auth: "token" });
    [node, icr] = await Promise.all([sharedNode(), serveRegistryAt(registry, DOMAIN)]);
    image = icr.imageRef(await pushRunnableImage(registry, "team-ns/icr-app", "v1"));
  });
  afterAll(async () => {
    await icr?.stop();
    await registry?.stop();
    await iam?.close();
  });

  it("API key: a Pod pulls us.icr.io/team-ns/icr-app:v1 as iambearer with the token IAM issued", async () => {
    expect(image).toBe(`${DOMAIN}/team-ns/icr-app:v1`);
    const result = await daemonThenKubeletPull(
      node,
      icrRegistryYaml(iam, [DOMAIN], { apiKey: iam.apiKey }),
      [image],
      {
        providers: icrProviders(iam),
        // The registry learns the newest token IAM issued (not the one in the Secret).
        beforePods: async () => {
          token = iam.iam.issued.at(-1)!.token;
          await registry.setUsers([{ username: BEARER, password: token }]);
        },
      },
    );
    const auths = authsOf(result.secrets[0]!.dockerconfigjson);
    expect(Object.keys(auths)).toEqual([DOMAIN]);
    expect(auths[DOMAIN]).toMatchObject({ username: BEARER, password: token });
    const [pull] = result.pulls;
    expect(pull!.pulled).toMatch(/^Successfully pulled image "us\.icr\.io\/team-ns\/icr-app:v1" in /);
    expect(pull!.output).toBe(`${greetingOf("team-ns/icr-app", "v1")}\n`);
    expect(result.logs).not.toContain(iam.apiKey);
    expect(result.logs).not.toContain(token);
  });

  it("control: a token with one character changed is refused, ErrImagePull with 401", async () => {
    expect(token).not.toBe("");
    const wrong = token.slice(0, -1) + (token.endsWith("A") ? "B" : "A");
    const failure = await pullWithWrongSecret(image, { [DOMAIN]: { username: BEARER, password: wrong } });
    expect(["ErrImagePull", "ImagePullBackOff"]).toContain(failure.reason);
    expect(failure.failedEvents.join("\n")).toContain(`Failed to pull image "${image}"`);
    expect(failure.failedEvents.join("\n")).toContain("401 Unauthorized");
  });
});
