// The chart as rendered by helm (rig-built v4): lint, one values file per provider
// (charts/regcred/ci/*.yaml), and what each rendering must hold: a config regcred's own
// parser accepts, Pod Security "restricted" fields, the RBAC of src/kube/rbac.ts, mounted
// Secret references, cloud identity annotations, leader election with replicas > 1.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse, parseAllDocuments } from "yaml";
import { beforeAll, describe, expect, it } from "vitest";
import { ensureTool } from "../../rig/tools.ts";
import { REPO_ROOT } from "../../rig/util.ts";
import { parseConfig } from "../../../src/config/load.ts";
import { clusterRules, leaseRules, managedSecretNames } from "../../../src/kube/rbac.ts";
import { providerKinds } from "../../../providers/index.ts";
import { CHART_DIR, CI_DIR, ciValues, helm, one, template, type K8sObject } from "./helm.ts";

interface Container {
  name: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  securityContext?: Record<string, unknown>;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  livenessProbe?: { httpGet?: { path: string } };
  readinessProbe?: { httpGet?: { path: string } };
  resources?: Record<string, unknown>;
  ports?: { name: string; containerPort: number }[];
}
interface PodSpec {
  serviceAccountName: string;
  securityContext?: Record<string, unknown>;
  containers: Container[];
  initContainers?: Container[];
  volumes?: { name: string; secret?: { secretName: string }; configMap?: { name: string } }[];
  hostNetwork?: boolean;
  imagePullSecrets?: { name: string }[];
  hostPID?: boolean;
  hostIPC?: boolean;
}
interface PodTemplate {
  metadata: { labels: Record<string, string>; annotations: Record<string, string> };
  spec: PodSpec;
}

const podTemplate = (o: K8sObject): PodTemplate => (o.spec as { template: PodTemplate }).template;
const configOf = (objects: K8sObject[]) =>
  (one(objects, "ConfigMap", "rc-regcred") as unknown as { data: Record<string, string> }).data[
    "config.yaml"
  ]!;

const PROVIDERS = ["ecr", "gcr", "acr", "ghcr"] as const;
const CI_FILES = readdirSync(CI_DIR).filter((f) => f.endsWith("-values.yaml"));

/**
 * Pod Security Standards, "restricted" profile (v1.35): the checks that apply to a pod spec
 * (baseline's host namespaces, privileged, capabilities; restricted's non-root, escalation,
 * capabilities drop ALL, seccomp RuntimeDefault/Localhost, volume types).
 */
function restrictedViolations(spec: PodSpec): string[] {
  const v: string[] = [];
  if (spec.hostNetwork || spec.hostPID || spec.hostIPC) v.push("host namespaces");
  const pod = spec.securityContext ?? {};
  const allowedVolumes = [
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
  ];
  for (const vol of spec.volumes ?? []) {
    const types = Object.keys(vol).filter((k) => k !== "name");
    if (!types.every((t) => allowedVolumes.includes(t))) v.push(`volume ${vol.name}: ${types.join(",")}`);
  }
  for (const c of [...spec.containers, ...(spec.initContainers ?? [])]) {
    const sc = c.securityContext ?? {};
    const caps = (sc.capabilities ?? {}) as { drop?: string[]; add?: string[] };
    if (sc.privileged) v.push(`${c.name}: privileged`);
    if (sc.allowPrivilegeEscalation !== false) v.push(`${c.name}: allowPrivilegeEscalation must be false`);
    if (!(caps.drop ?? []).includes("ALL")) v.push(`${c.name}: capabilities.drop must include ALL`);
    if ((caps.add ?? []).some((a) => a !== "NET_BIND_SERVICE")) v.push(`${c.name}: capabilities.add`);
    const runAsNonRoot = sc.runAsNonRoot ?? pod.runAsNonRoot;
    if (runAsNonRoot !== true) v.push(`${c.name}: runAsNonRoot must be true`);
    const runAsUser = sc.runAsUser ?? pod.runAsUser;
    if (runAsUser === 0) v.push(`${c.name}: runAsUser 0`);
    const seccomp = ((sc.seccompProfile ?? pod.seccompProfile) as { type?: string } | undefined)?.type;
    if (seccomp !== "RuntimeDefault" && seccomp !== "Localhost") v.push(`${c.name}: seccompProfile`);
  }
  return v;
}

describe("chart: helm lint and template", () => {
  let bin = "";
  beforeAll(async () => {
    bin = await ensureTool("helm");
  });

  it("Chart.yaml is apiVersion v2 with appVersion = package.json's version", () => {
    const chart = parse(readFileSync(join(CHART_DIR, "Chart.yaml"), "utf8")) as Record<string, string>;
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string };
    expect(chart.apiVersion).toBe("v2");
    expect(chart.appVersion).toBe(pkg.version);
  });

  it.each(CI_FILES)("helm lint --strict passes with ci/%s", (file) => {
    const r = helm(bin, ["lint", "--strict", CHART_DIR, "--values", join(CI_DIR, file)]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain("1 chart(s) linted, 0 chart(s) failed");
  });

  it("refuses to render without registries or secrets, saying what to set", () => {
    const r = helm(bin, ["template", "rc", CHART_DIR]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("registries: expected at least one registry");
    const s = helm(bin, [
      "template",
      "rc",
      CHART_DIR,
      "--set",
      "registries[0].name=a",
      "--set",
      "registries[0].provider=static",
    ]);
    expect(s.stderr).toContain("secrets: expected at least one secret");
  });

  it("values.schema.json rejects unknown top-level values and a bad provider", () => {
    const r = helm(bin, ["template", "rc", CHART_DIR, "--values", ciValues("ghcr"), "--set", "replicas=3"]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("additional properties 'replicas' not allowed");
    const p = helm(bin, [
      "template",
      "rc",
      CHART_DIR,
      "--values",
      ciValues("ghcr"),
      "--set",
      "registries[0].provider=quay",
    ]);
    expect(p.status).not.toBe(0);
    expect(p.stderr).toContain("at '/registries/0/provider': value must be one of");
  });

  it("values.schema.json lists exactly the providers of providers/index.ts", () => {
    const schema = JSON.parse(readFileSync(join(CHART_DIR, "values.schema.json"), "utf8")) as {
      properties: { registries: { items: { properties: { provider: { enum: string[] } } } } };
    };
    expect([...schema.properties.registries.items.properties.provider.enum].sort()).toEqual(
      [...providerKinds].sort(),
    );
  });

  it.each(CI_FILES)("ci/%s renders a config that regcred's parseConfig accepts", (file) => {
    const objects = template(bin, { values: [join(CI_DIR, file)] });
    const text = configOf(objects);
    const config = parseConfig("/etc/regcred/config.yaml", text);
    const values = parse(readFileSync(join(CI_DIR, file), "utf8")) as {
      registries: { name: string; provider: string }[];
      secrets: { name: string }[];
    };
    expect(config.registries.map((r) => [r.name, r.provider])).toEqual(
      values.registries.map((r) => [r.name, r.provider]),
    );
    expect(config.secrets.map((s) => s.name)).toEqual(values.secrets.map((s) => s.name));
    expect(config.server.port).toBe(8080);
    expect(config.kubernetes.instance).toBe("rc");
    expect(config.kubernetes.leaderElection).toMatchObject({ namespace: "regcred", name: "rc-regcred" });
  });

  it("`regcred validate` (the CLI) accepts the rendered config", () => {
    const dir = mkdtempSync(join(tmpdir(), "regcred-chart-validate-"));
    try {
      const file = join(dir, "config.yaml");
      writeFileSync(file, configOf(template(bin, { values: [ciValues("ha")] })));
      const r = spawnSync(join(REPO_ROOT, "node_modules/.bin/tsx"), ["src/main.ts", "validate", "-c", file], {
        cwd: REPO_ROOT,
        encoding: "utf8",
      });
      expect(r.status, r.stdout + r.stderr).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a config regcred rejects is caught by the same check (the test is not vacuous)", () => {
    const objects = template(bin, { values: [ciValues("ecr")], set: ["registries[0].region=eu-west-1"] });
    expect(() => parseConfig("config.yaml", configOf(objects))).toThrow(
      /registries\[0\]\.regions: expected one of region or regions/,
    );
  });

  it.each(PROVIDERS)(
    "%s: the pod passes Pod Security restricted, probes /healthz and /readyz, gets POD_NAME/POD_NAMESPACE",
    (p) => {
      const objects = template(bin, { values: [ciValues(p)] });
      const pod = podTemplate(one(objects, "Deployment"));
      expect(restrictedViolations(pod.spec)).toEqual([]);
      // The values the brief fixes, field by field.
      const c = pod.spec.containers[0]!;
      expect(pod.spec.securityContext).toMatchObject({
        runAsNonRoot: true,
        runAsUser: 65532,
        seccompProfile: { type: "RuntimeDefault" },
      });
      expect(c.securityContext).toEqual({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        runAsNonRoot: true,
        runAsUser: 65532,
        capabilities: { drop: ["ALL"] },
        seccompProfile: { type: "RuntimeDefault" },
      });
      expect(c.livenessProbe?.httpGet?.path).toBe("/healthz");
      expect(c.readinessProbe?.httpGet?.path).toBe("/readyz");
      expect(c.ports).toEqual([{ name: "http", containerPort: 8080, protocol: "TCP" }]);
      expect(c.resources).toMatchObject({
        requests: { cpu: expect.any(String), memory: expect.any(String) },
      });
      expect(c.args).toEqual(["run", "--config", "/etc/regcred/config.yaml"]);
      const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath]));
      expect(env).toMatchObject({ POD_NAME: "metadata.name", POD_NAMESPACE: "metadata.namespace" });
      expect(pod.spec.serviceAccountName).toBe("rc-regcred");
    },
  );

  it("the restricted check catches a violation (not vacuous)", () => {
    const objects = template(bin, {
      values: [ciValues("ghcr")],
      set: [
        "securityContext.allowPrivilegeEscalation=true",
        "podSecurityContext.runAsNonRoot=false",
        "securityContext.runAsNonRoot=null",
      ],
    });
    expect(restrictedViolations(podTemplate(one(objects, "Deployment")).spec)).toEqual([
      "regcred: allowPrivilegeEscalation must be false",
      "regcred: runAsNonRoot must be true",
    ]);
  });

  it("RBAC: the ClusterRole and Role rules equal src/kube/rbac.ts (clusterRules, leaseRules)", () => {
    const objects = template(bin, { values: [ciValues("ha")] });
    const config = parseConfig("c.yaml", configOf(objects));
    const secretNames = managedSecretNames(config);
    expect(one(objects, "ClusterRole").rules).toEqual(clusterRules({ secretNames, healing: false }));
    // pods delete only with healing on, as clusterRules({ healing: true }) has it.
    const healing = template(bin, { values: [ciValues("ha")], set: ["healing.enabled=true"] });
    expect(one(healing, "ClusterRole").rules).toEqual(clusterRules({ secretNames, healing: true }));
    expect(clusterRules({ secretNames, healing: true })).toContainEqual({
      apiGroups: [""],
      resources: ["pods"],
      verbs: ["delete"],
    });
    expect(clusterRules({ secretNames, healing: false })).not.toContainEqual(
      expect.objectContaining({ resources: ["pods"], verbs: expect.arrayContaining(["delete"]) }),
    );
    expect(parseConfig("c.yaml", configOf(healing)).healing.enabled).toBe(true);
    expect(parseConfig("c.yaml", configOf(objects)).healing.enabled).toBe(false);
    expect(one(objects, "Role").rules).toEqual(leaseRules("rc-regcred"));
    // Bound to the chart's ServiceAccount in the release namespace.
    const subject = [{ kind: "ServiceAccount", name: "rc-regcred", namespace: "regcred" }];
    expect(one(objects, "ClusterRoleBinding")).toMatchObject({
      roleRef: { kind: "ClusterRole", name: "rc-regcred" },
      subjects: subject,
    });
    expect(one(objects, "RoleBinding")).toMatchObject({
      roleRef: { kind: "Role", name: "rc-regcred-leader-election" },
      subjects: subject,
    });
    // The Lease the Role names is the one the config elects on.
    expect(parseConfig("c.yaml", configOf(objects)).kubernetes.leaderElection.name).toBe("rc-regcred");
  });

  it("RBAC: Secrets by name: targets, retiredSecrets and mirror sources; only create unrestricted", () => {
    const dir = mkdtempSync(join(tmpdir(), "regcred-chart-rbac-"));
    try {
      const values = join(dir, "values.yaml");
      writeFileSync(
        values,
        `registries:
  - { name: corp, provider: mirror, source: { namespace: corp, name: corp-pull }, registries: [registry.corp.example] }
secrets:
  - { name: team-pull, registries: [corp] }
  - { name: pull, registries: [corp] }
retiredSecrets: [old-pull]
`,
      );
      const objects = template(bin, { values: [values] });
      const secretRules = (one(objects, "ClusterRole").rules as Array<Record<string, unknown>>).filter((r) =>
        (r.resources as string[]).includes("secrets"),
      );
      expect(secretRules).toEqual([
        { apiGroups: [""], resources: ["secrets"], verbs: ["create"] },
        {
          apiGroups: [""],
          resources: ["secrets"],
          resourceNames: ["corp-pull", "old-pull", "pull", "team-pull"],
          verbs: ["get", "list", "watch", "patch", "delete"],
        },
      ]);
      const config = parseConfig("c.yaml", configOf(objects));
      expect(config.kubernetes.retiredSecrets).toEqual(["old-pull"]);
      expect(one(objects, "ClusterRole").rules).toEqual(
        clusterRules({ secretNames: managedSecretNames(config) }),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("RBAC: `regcred rbac` (the CLI) prints the same rules the chart renders", () => {
    const chart = template(bin, { values: [ciValues("ha")] });
    // The CLI reads the very config the chart renders: one source for the Secret names.
    const dir = mkdtempSync(join(tmpdir(), "regcred-chart-rbac-cli-"));
    const rendered = join(dir, "config.yaml");
    writeFileSync(rendered, configOf(chart));
    const r = spawnSync(
      join(REPO_ROOT, "node_modules/.bin/tsx"),
      [
        "src/main.ts",
        "rbac",
        "-c",
        rendered,
        "--namespace",
        "regcred",
        "--service-account",
        "rc-regcred",
        "--lease",
        "rc-regcred",
      ],
      { cwd: REPO_ROOT, encoding: "utf8" },
    );
    expect(r.status, r.stderr).toBe(0);
    const printed = parseAllDocuments(r.stdout).map((d) => d.toJS() as K8sObject);
    for (const kind of ["ClusterRole", "Role"]) {
      expect(one(chart, kind).rules, kind).toEqual(one(printed, kind).rules);
    }
    // healing.enabled in the chart's values is healing.enabled in the config the CLI reads: the
    // same pods delete rule, from the same rendered config.
    const healingChart = template(bin, { values: [ciValues("ha")], set: ["healing.enabled=true"] });
    writeFileSync(rendered, configOf(healingChart));
    const healingCli = spawnSync(
      join(REPO_ROOT, "node_modules/.bin/tsx"),
      ["src/main.ts", "rbac", "-c", rendered, "--namespace", "regcred", "--lease", "rc-regcred"],
      { cwd: REPO_ROOT, encoding: "utf8" },
    );
    rmSync(dir, { recursive: true, force: true });
    expect(healingCli.status, healingCli.stderr).toBe(0);
    const healingRules = one(
      parseAllDocuments(healingCli.stdout).map((d) => d.toJS() as K8sObject),
      "ClusterRole",
    ).rules;
    expect(one(healingChart, "ClusterRole").rules).toEqual(healingRules);
    expect(healingRules).toContainEqual({ apiGroups: [""], resources: ["pods"], verbs: ["delete"] });
    expect(one(chart, "ClusterRole").rules).not.toContainEqual({
      apiGroups: [""],
      resources: ["pods"],
      verbs: ["delete"],
    });
    for (const kind of ["ClusterRoleBinding", "RoleBinding"]) {
      expect(one(chart, kind).subjects, kind).toEqual(one(printed, kind).subjects);
    }
  });

  it("replicas: 3 turns leader election on, rolls one pod at a time; 1 replica recreates", () => {
    const ha = template(bin, { values: [ciValues("ha")] });
    expect(parseConfig("c.yaml", configOf(ha)).kubernetes.leaderElection.enabled).toBe(true);
    const dep = one(ha, "Deployment").spec as { replicas: number; strategy: { type: string } };
    expect(dep.replicas).toBe(3);
    expect(dep.strategy.type).toBe("RollingUpdate");
    const single = template(bin, { values: [ciValues("ecr")] });
    expect(parseConfig("c.yaml", configOf(single)).kubernetes.leaderElection.enabled).toBe(false);
    expect((one(single, "Deployment").spec as { strategy: { type: string } }).strategy.type).toBe("Recreate");
    const forced = template(bin, { values: [ciValues("ecr")], set: ["leaderElection.enabled=true"] });
    expect(parseConfig("c.yaml", configOf(forced)).kubernetes.leaderElection.enabled).toBe(true);
  });

  it("Secret references become mounted files: a volume per Secret, { file } for *From, a path for *File", () => {
    const ghcr = template(bin, { values: [ciValues("ghcr")] });
    const cfg = parseConfig("c.yaml", configOf(ghcr));
    expect(cfg.registries[0]!.settings).toMatchObject({
      tokenFrom: { file: "/var/run/regcred/secrets/ghcr-pat/token" },
    });
    expect(cfg.registries[1]!.settings).toMatchObject({
      usernameFrom: { file: "/var/run/regcred/secrets/dockerhub/username" },
      passwordFrom: { file: "/var/run/regcred/secrets/dockerhub/token" },
    });
    const spec = podTemplate(one(ghcr, "Deployment")).spec;
    const secretVolumes = (spec.volumes ?? []).filter((v) => v.secret);
    expect(secretVolumes.map((v) => v.secret!.secretName)).toEqual(["dockerhub", "ghcr-pat"]); // one each, sorted
    const mounts = spec.containers[0]!.volumeMounts ?? [];
    for (const v of secretVolumes) {
      expect(mounts).toContainEqual({
        name: v.name,
        mountPath: `/var/run/regcred/secrets/${v.secret!.secretName}`,
        readOnly: true,
      });
    }
    const gcr = template(bin, { values: [ciValues("gcr")] });
    expect(parseConfig("c.yaml", configOf(gcr)).registries[1]!.settings).toMatchObject({
      credentialsFile: "/var/run/regcred/secrets/gcp-partner-key/key.json",
    });
    // A malformed reference is an error, not a silently broken path.
    const bad = helm(bin, [
      "template",
      "rc",
      CHART_DIR,
      "--values",
      ciValues("ghcr"),
      "--set",
      "registries[0].tokenFrom.secret.key=null",
    ]);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain("tokenFrom: expected { secret: { name: SECRET, key: KEY } }");
  });

  it("cloud identity: IRSA, GKE Workload Identity and Azure Workload Identity annotations and label", () => {
    const sa = (p: string) => one(template(bin, { values: [ciValues(p)] }), "ServiceAccount").metadata;
    expect(sa("ecr").annotations).toEqual({
      "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/regcred-ecr-pull",
    });
    expect(sa("gcr").annotations).toEqual({
      "iam.gke.io/gcp-service-account": "regcred-puller@my-project.iam.gserviceaccount.com",
    });
    expect(sa("acr").annotations).toEqual({
      "azure.workload.identity/client-id": "00000000-0000-0000-0000-000000000001",
      "azure.workload.identity/tenant-id": "00000000-0000-0000-0000-000000000002",
    });
    expect(sa("ghcr").annotations).toBeUndefined();
    const acrPod = podTemplate(one(template(bin, { values: [ciValues("acr")] }), "Deployment"));
    expect(acrPod.metadata.labels["azure.workload.identity/use"]).toBe("true");
    const ecrPod = podTemplate(one(template(bin, { values: [ciValues("ecr")] }), "Deployment"));
    expect(ecrPod.metadata.labels["azure.workload.identity/use"]).toBeUndefined();
  });

  it("server.host reaches the config: dual-stack by default, IPv4-only when asked", () => {
    expect(parseConfig("c.yaml", configOf(template(bin, { values: [ciValues("ghcr")] }))).server).toEqual({
      port: 8080,
      host: "::",
    });
    const v4 = template(bin, { values: [ciValues("ghcr")], set: ["server.host=0.0.0.0"] });
    expect(parseConfig("c.yaml", configOf(v4)).server.host).toBe("0.0.0.0");
  });

  it("pod options reach the Deployment and the hook Job alike: pull Secrets, env, network, DNS, metadata", () => {
    const objects = template(bin, {
      values: [ciValues("ha")],
      set: [
        "imagePullSecrets[0].name=regcred-image-pull",
        "extraEnv[0].name=HTTPS_PROXY",
        "extraEnv[0].value=http://proxy.internal:3128",
        "extraEnvFrom[0].secretRef.name=regcred-proxy",
        "hostAliases[0].ip=10.0.0.10",
        "hostAliases[0].hostnames[0]=registry.internal",
        "dnsConfig.options[0].name=single-request-reopen",
        "podAnnotations.example\\.com/team=platform",
        "podLabels.team=platform",
        // A pod label may not take over the selector's: the chart's own wins.
        "podLabels.app\\.kubernetes\\.io/name=other",
      ],
    });
    const dep = podTemplate(one(objects, "Deployment"));
    const job = podTemplate(one(objects, "Job"));
    for (const [what, pod] of [
      ["Deployment", dep],
      ["Job", job],
    ] as const) {
      const spec = pod.spec as PodSpec & Record<string, unknown>;
      const c = spec.containers[0]! as Container & { envFrom?: unknown };
      expect(spec.imagePullSecrets, what).toEqual([{ name: "regcred-image-pull" }]);
      expect(c.env, what).toContainEqual({ name: "HTTPS_PROXY", value: "http://proxy.internal:3128" });
      // After the chart's own variables, so a name given here wins (the last one counts).
      expect(c.env!.at(-1)!.name, what).toBe("HTTPS_PROXY");
      expect(c.envFrom, what).toEqual([{ secretRef: { name: "regcred-proxy" } }]);
      expect(spec.hostAliases, what).toEqual([{ ip: "10.0.0.10", hostnames: ["registry.internal"] }]);
      expect(spec.dnsConfig, what).toEqual({ options: [{ name: "single-request-reopen" }] });
      expect(spec.hostNetwork, what).toBeUndefined();
      expect(spec.dnsPolicy, what).toBeUndefined();
      expect(pod.metadata.annotations, what).toMatchObject({ "example.com/team": "platform" });
      expect(pod.metadata.labels, what).toMatchObject({
        team: "platform",
        "app.kubernetes.io/name": "regcred",
      });
      expect(restrictedViolations(spec), what).toEqual([]);
    }
    expect(dep.metadata.labels["app.kubernetes.io/component"]).toBe("controller");
    expect(job.metadata.labels["app.kubernetes.io/component"]).toBe("first-write");
  });

  it("hostNetwork brings ClusterFirstWithHostNet (cluster DNS still works), and breaks restricted", () => {
    const spec = (set: string[]) =>
      podTemplate(one(template(bin, { values: [ciValues("ghcr")], set }), "Deployment")).spec as PodSpec &
        Record<string, unknown>;
    const host = spec(["hostNetwork=true"]);
    expect(host.hostNetwork).toBe(true);
    expect(host.dnsPolicy).toBe("ClusterFirstWithHostNet");
    expect(restrictedViolations(host)).toEqual(["host namespaces"]);
    expect(spec(["hostNetwork=true", "dnsPolicy=Default"]).dnsPolicy).toBe("Default");
    expect(spec(["dnsPolicy=None", "dnsConfig.nameservers[0]=10.0.0.53"]).dnsPolicy).toBe("None");
  });

  it("a config change changes the pod template's checksum; an unrelated value does not", () => {
    const checksum = (set: string[]) =>
      podTemplate(one(template(bin, { values: [ciValues("ghcr")], set }), "Deployment")).metadata.annotations[
        "checksum/config"
      ];
    const base = checksum([]);
    expect(base).toMatch(/^[a-f0-9]{64}$/);
    expect(checksum(["secrets[0].serviceAccounts[0]=builder"])).not.toBe(base);
    expect(checksum(["log.level=debug"])).not.toBe(base);
    expect(checksum(["resources.limits.memory=512Mi"])).toBe(base);
  });

  it("standard labels on every object; selectors use the stable pair only", () => {
    for (const p of [...PROVIDERS, "ha"]) {
      for (const o of template(bin, { values: [ciValues(p)] })) {
        expect(o.metadata.labels, `${p} ${o.kind}`).toMatchObject({
          "helm.sh/chart": "regcred-0.1.0",
          "app.kubernetes.io/name": "regcred",
          "app.kubernetes.io/instance": "rc",
          "app.kubernetes.io/version": "0.1.0",
          "app.kubernetes.io/managed-by": "Helm",
        });
      }
    }
    const objects = template(bin, { values: [ciValues("ha")] });
    const selector = { "app.kubernetes.io/name": "regcred", "app.kubernetes.io/instance": "rc" };
    expect((one(objects, "Deployment").spec as { selector: unknown }).selector).toEqual({
      matchLabels: selector,
    });
    expect((one(objects, "Service").spec as { selector: unknown }).selector).toEqual(selector);
    expect((one(objects, "PodDisruptionBudget").spec as { selector: unknown }).selector).toEqual({
      matchLabels: selector,
    });
  });

  it("optional objects: ServiceMonitor (job=regcred), dashboard, PDB, hook Job running once --output kube", () => {
    const plain = template(bin, { values: [ciValues("ghcr")] }).map((o) => o.kind);
    expect(plain.sort()).toEqual(
      [
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "Deployment",
        "PodDisruptionBudget",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount",
      ].sort(),
    );
    const all = template(bin, { values: [ciValues("ha")] });
    const sm = one(all, "ServiceMonitor").spec as {
      jobLabel: string;
      endpoints: { port: string; path: string }[];
    };
    expect(sm.jobLabel).toBe("app.kubernetes.io/name");
    expect(sm.endpoints[0]).toMatchObject({ port: "http", path: "/metrics" });
    const dash = one(all, "ConfigMap", "rc-regcred-dashboard") as unknown as {
      data: Record<string, string>;
      metadata: { labels: Record<string, string> };
    };
    expect(dash.metadata.labels.grafana_dashboard).toBe("1");
    const dashboard = JSON.parse(dash.data["regcred.json"]!) as { panels: { targets: { expr: string }[] }[] };
    expect(dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)).join(" ")).toContain(
      "regcred_credential_expiry_timestamp_seconds",
    );
    const job = one(all, "Job");
    expect(job.metadata.annotations).toMatchObject({ "helm.sh/hook": "post-install,post-upgrade" });
    const jobPod = podTemplate(job);
    expect(jobPod.spec.containers[0]!.args).toEqual([
      "once",
      "--config",
      "/etc/regcred/config.yaml",
      "--output",
      "kube",
    ]);
    expect(restrictedViolations(jobPod.spec)).toEqual([]);
    expect(jobPod.spec.serviceAccountName).toBe("rc-regcred");
    expect(jobPod.spec.volumes).toEqual(podTemplate(one(all, "Deployment")).spec.volumes);
  });
});
