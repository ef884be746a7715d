// Renders the chart with the rig's helm (built from test/rig/tools/helm, cached).
import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { REPO_ROOT } from "../../rig/util.ts";

export const CHART_DIR = join(REPO_ROOT, "charts", "regcred");
export const CI_DIR = join(CHART_DIR, "ci");

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [key: string]: unknown;
}

export interface HelmResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function helm(bin: string, args: string[], env: NodeJS.ProcessEnv = {}): HelmResult {
  const r = spawnSync(bin, args, {
    encoding: "utf8",
    // No user helm config or cache leaks in, and none is written to $HOME.
    env: helmEnv(env),
    cwd: REPO_ROOT,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const helmEnv = (env: NodeJS.ProcessEnv): NodeJS.ProcessEnv => ({
  ...process.env,
  HELM_CONFIG_HOME: "/nonexistent",
  HELM_CACHE_HOME: "/tmp/regcred-helm-cache",
  ...env,
});

/**
 * helm without blocking this process: for suites whose servers (a relay, a token server) run
 * in the test process and must keep answering while helm waits.
 */
export function helmAsync(bin: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<HelmResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { env: helmEnv(env), cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

/** `helm template` into parsed objects; throws with helm's stderr on failure. */
export function template(
  bin: string,
  opts: { release?: string; namespace?: string; values?: string[]; set?: string[] } = {},
): K8sObject[] {
  const args = ["template", opts.release ?? "rc", CHART_DIR, "--namespace", opts.namespace ?? "regcred"];
  for (const v of opts.values ?? []) args.push("--values", v);
  for (const s of opts.set ?? []) args.push("--set", s);
  const r = helm(bin, args);
  if (r.status !== 0) throw new Error(`helm ${args.join(" ")} failed:\n${r.stderr}`);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

export function one(objects: K8sObject[], kind: string, name?: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1)
    throw new Error(`expected one ${kind}${name ? ` ${name}` : ""}, found ${found.length}`);
  return found[0]!;
}

export const ciValues = (name: string): string => join(CI_DIR, `${name}-values.yaml`);
