import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/config/load.ts";
import { clusterRules, managedSecretNames, rbacManifests } from "../../src/kube/rbac.ts";
import { configFrom } from "../helpers/config.ts";

const config = configFrom(`
registries:
  - { name: corp, provider: mirror, source: { namespace: corp, name: corp-pull }, registries: [registry.corp.example] }
  - { name: hub, provider: static, registries: [docker.io], username: u, passwordFrom: { env: P } }
secrets:
  - { name: team-pull, registries: [corp, hub] }
  - { name: pull, registries: [hub] }
kubernetes: { retiredSecrets: [old-pull] }
`);

describe("RBAC for Secrets by name", () => {
  it("names the targets, the retired targets and the mirror sources, sorted", () => {
    expect(managedSecretNames(config)).toEqual(["corp-pull", "old-pull", "pull", "team-pull"]);
  });

  it("grants every Secret verb but create only on those names", () => {
    const secrets = clusterRules({ secretNames: managedSecretNames(config) }).filter((r) =>
      r.resources?.includes("secrets"),
    );
    expect(secrets).toEqual([
      { apiGroups: [""], resources: ["secrets"], verbs: ["create"] },
      {
        apiGroups: [""],
        resources: ["secrets"],
        resourceNames: ["corp-pull", "old-pull", "pull", "team-pull"],
        verbs: ["get", "list", "watch", "patch", "delete"],
      },
    ]);
  });

  it("grants nothing but create when there is no name (an empty resourceNames would mean all)", () => {
    const secrets = clusterRules({ secretNames: [] }).filter((r) => r.resources?.includes("secrets"));
    expect(secrets).toEqual([{ apiGroups: [""], resources: ["secrets"], verbs: ["create"] }]);
  });

  it("is what rbacManifests puts into the ClusterRole", () => {
    const role = rbacManifests({ namespace: "regcred", secretNames: ["pull"] }).find(
      (m) => m.kind === "ClusterRole",
    ) as { rules: unknown };
    expect(role.rules).toEqual(clusterRules({ secretNames: ["pull"] }));
  });

  it("refuses a retired name that is still a target: its Secrets are kept, not collected", () => {
    let problems: unknown[] = [];
    try {
      configFrom(`
registries:
  - { name: hub, provider: static, registries: [docker.io], username: u, passwordFrom: { env: P } }
secrets: [{ name: pull, registries: [hub] }]
kubernetes: { retiredSecrets: [pull] }
`);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems = err.problems;
    }
    expect(problems).toEqual([
      expect.objectContaining({
        path: "kubernetes.retiredSecrets[0]",
        message: expect.stringContaining("secrets[0]") as unknown,
      }),
    ]);
  });
});
