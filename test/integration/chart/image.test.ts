// The container image, built from the repository's Dockerfile by buildah (no Docker engine) on a
// stand-in base assembled from this machine (test/chart/image/build.sh), then run as its own
// non-root user: --version, and `regcred validate` of configs the chart rendered, at the path
// the chart mounts (the image's default --config).
//
// Opt-in: REGCRED_IMAGE_TEST=1 (needs root and Debian's buildah; about 45 s warm on 2 cores,
// and npm ci inside the build reaches the npm registry).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureTool } from "../../rig/tools.ts";
import { REPO_ROOT } from "../../rig/util.ts";
import { ciValues, one, template } from "./helm.ts";
import { randomBytes } from "node:crypto";
import { CoreV1Api } from "@kubernetes/client-node";
import { sharedCluster } from "../../rig/shared.ts";
import { createNamespaces, type NamespaceSet } from "../../rig/namespaces.ts";
import { leastPrivilege, type LeastPrivilege } from "../kube/least-rbac.ts";

describe.runIf(process.env.REGCRED_IMAGE_TEST === "1")("image (buildah, stand-in base)", () => {
  const dir = mkdtempSync(join(tmpdir(), "regcred-image-"));
  const cluster = sharedCluster();
  const run = randomBytes(3).toString("hex");
  let ns: NamespaceSet;
  let regcred: LeastPrivilege;
  let out = "";
  let err = "";
  let ms = 0;

  beforeAll(async () => {
    const bin = await ensureTool("helm");
    const good = join(dir, "good.yaml");
    const cm = one(template(bin, { values: [ciValues("ha")] }), "ConfigMap", "rc-regcred") as unknown as {
      data: Record<string, string>;
    };
    writeFileSync(good, cm.data["config.yaml"]!);
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, cm.data["config.yaml"]!.replace("provider: static", "provider: quay"));
    // `regcred once` from inside the image against the rig, as regcred's ServiceAccount.
    ns = await createNamespaces(cluster.kubeConfig(), `image-${run}`, 2, { "regcred-test": run });
    regcred = await leastPrivilege(cluster, run, ["pull"]);
    const onceConfig = join(dir, "once.yaml");
    writeFileSync(
      onceConfig,
      `registries:
  - { name: quay, provider: static, registries: [quay.io], username: robot, passwordFrom: { env: QUAY_PASSWORD } }
secrets:
  - { name: pull, registries: [quay], namespaces: { selector: { matchLabels: { regcred-test: "${run}" } } } }
kubernetes: { instance: image-${run}, events: false }
`,
    );
    const started = Date.now();
    const r = spawnSync(join(REPO_ROOT, "test/chart/image/build.sh"), [`localhost/regcred:test`], {
      encoding: "utf8",
      env: {
        ...process.env,
        CONFIG: `${good}:${bad}`,
        ONCE_KUBECONFIG: regcred.kubeconfigPath,
        ONCE_CONFIG: onceConfig,
        ONCE_ENV: "QUAY_PASSWORD=image-once-password",
      },
      timeout: 900_000,
    });
    ms = Date.now() - started;
    out = r.stdout;
    err = r.stderr;
    if (r.status !== 0) throw new Error(`build.sh exited ${r.status}:\n${err.slice(-4000)}`);
    console.log(`image built and run in ${Math.round(ms / 1000)} s`);
  }, 900_000);
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await Promise.all([ns?.cleanup(), regcred?.cleanup()]);
  });

  const field = (name: string) => [...out.matchAll(new RegExp(`^${name}=(.*)$`, "gm"))].map((m) => m[1]);

  it("runs as the non-root user 65532, which Pod Security restricted and the chart expect", () => {
    expect(field("user")).toEqual(["65532:65532"]);
    expect(field("uid")).toEqual(["65532:65532"]);
  });

  it("the entrypoint prints package.json's version", () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string };
    expect(field("version")).toEqual([pkg.version]);
  });

  it("validates the chart's rendered config at /etc/regcred/config.yaml, and rejects a broken one", () => {
    expect(field("validate")).toEqual(["ok", "exit 2"]);
  });

  it("runs `regcred once --output kube` against the rig as non-root and writes the Secrets", async () => {
    expect(field("once")).toEqual(["ok"]);
    const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
    for (const namespace of ns.names) {
      const secret = await core.readNamespacedSecret({ namespace, name: "pull" });
      const auths = JSON.parse(Buffer.from(secret.data![".dockerconfigjson"]!, "base64").toString()).auths;
      expect(auths["quay.io"].password).toBe("image-once-password");
    }
  });
});
