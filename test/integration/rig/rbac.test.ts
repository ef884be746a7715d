// RBAC is enforced: a ServiceAccount allowed Secrets in one namespace only, authenticated with
// a token from the TokenRequest API, can write Secrets there and is refused (403) elsewhere.
import { CoreV1Api, RbacAuthorizationV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createNamespaces, type NamespaceSet } from "../../rig/namespaces.ts";
import { sharedCluster } from "../../rig/shared.ts";

describe("rig: RBAC with a TokenRequest token", () => {
  const cluster = sharedCluster();
  const admin = cluster.kubeConfig();
  let ns: NamespaceSet;
  let allowed = "";
  let other = "";
  let token = "";

  beforeAll(async () => {
    ns = await createNamespaces(admin, "rig-rbac", ["allowed", "other"]);
    [allowed = "", other = ""] = ns.names;
    const core = admin.makeApiClient(CoreV1Api);
    const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
    await core.createNamespacedServiceAccount({ namespace: allowed, body: { metadata: { name: "writer" } } });
    await rbac.createNamespacedRole({
      namespace: allowed,
      body: {
        metadata: { name: "secrets-writer" },
        rules: [
          { apiGroups: [""], resources: ["secrets"], verbs: ["get", "list", "create", "update", "patch"] },
        ],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: allowed,
      body: {
        metadata: { name: "secrets-writer" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "secrets-writer" },
        subjects: [{ kind: "ServiceAccount", name: "writer", namespace: allowed }],
      },
    });
    token = await cluster.serviceAccountToken(allowed, "writer", { expirationSeconds: 600 });
  });
  afterAll(async () => {
    await ns?.cleanup();
  });

  const secret = (name: string) => ({
    metadata: { name },
    type: "Opaque",
    stringData: { k: "v" },
  });

  it("the TokenRequest token is a JWT for the ServiceAccount", () => {
    const payload = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString()) as {
      sub: string;
    };
    expect(payload.sub).toBe(`system:serviceaccount:${allowed}:writer`);
  });

  it("writes a Secret in the allowed namespace", async () => {
    const core = cluster.kubeConfigForToken(token).makeApiClient(CoreV1Api);
    const created = await core.createNamespacedSecret({ namespace: allowed, body: secret("ok") });
    expect(created.metadata?.namespace).toBe(allowed);
    const read = await core.readNamespacedSecret({ namespace: allowed, name: "ok" });
    expect(read.data?.["k"]).toBe(Buffer.from("v").toString("base64"));
  });

  it("is forbidden (403) to write a Secret in another namespace", async () => {
    const core = cluster.kubeConfigForToken(token).makeApiClient(CoreV1Api);
    await expect(core.createNamespacedSecret({ namespace: other, body: secret("no") })).rejects.toMatchObject(
      {
        code: 403,
      },
    );
    // Nor may it touch other kinds in its own namespace.
    await expect(core.listNamespacedConfigMap({ namespace: allowed })).rejects.toMatchObject({ code: 403 });
    // The admin confirms nothing was written.
    const adminCore = admin.makeApiClient(CoreV1Api);
    await expect(adminCore.readNamespacedSecret({ namespace: other, name: "no" })).rejects.toMatchObject({
      code: 404,
    });
  });

  it("rejects a bogus token with 401", async () => {
    const core = cluster.kubeConfigForToken("not-a-token").makeApiClient(CoreV1Api);
    await expect(core.listNamespacedSecret({ namespace: allowed })).rejects.toMatchObject({ code: 401 });
  });
});
