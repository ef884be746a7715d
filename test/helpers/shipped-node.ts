import { readFileSync } from "node:fs";
import path from "node:path";
import { parse } from "yaml";

const root = path.resolve(import.meta.dirname, "../..");

/**
 * How the shipped daemon runs Node, for benches and the soak to run it the same way: the
 * chart's nodeOptions (NODE_OPTIONS), the V8 flags the image's ENTRYPOINT passes to node
 * (those NODE_OPTIONS refuses, such as --optimize-for-size) and the image's environment (the
 * C library's malloc settings among it).
 */
export interface ShippedNode {
  /** NODE_OPTIONS, from charts/regcred/values.yaml. */
  nodeOptions: string;
  /** Flags before the script in the Dockerfile's ENTRYPOINT. */
  args: string[];
  /** The final stage's ENV but NODE_OPTIONS (the chart sets its own). */
  imageEnv: Record<string, string>;
}

export function shippedNode(): ShippedNode {
  const values = parse(readFileSync(path.join(root, "charts/regcred/values.yaml"), "utf8")) as {
    nodeOptions?: string;
  };
  const dockerfile = readFileSync(path.join(root, "Dockerfile"), "utf8");
  const entry = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(dockerfile);
  if (!entry) throw new Error("Dockerfile: no ENTRYPOINT in exec form");
  const argv = JSON.parse(entry[1]!) as string[];
  const script = argv.findIndex((a) => a.endsWith(".js"));
  if (argv[0] !== "node" || script < 0)
    throw new Error(`Dockerfile: ENTRYPOINT is not node SCRIPT: ${entry[1]}`);
  const finalStage = dockerfile.slice(dockerfile.lastIndexOf("\nFROM "));
  const imageEnv: Record<string, string> = {};
  for (const [, key, value] of finalStage.matchAll(/^ENV\s+([A-Za-z_][A-Za-z0-9_]*)=(\S*)\s*$/gm))
    if (key !== "NODE_OPTIONS") imageEnv[key!] = value!;
  return { nodeOptions: values.nodeOptions ?? "", args: argv.slice(1, script), imageEnv };
}

/** The environment of the shipped daemon: the image's, NODE_OPTIONS as the chart sets it. */
export function shippedEnv(s: ShippedNode): Record<string, string> {
  return { ...s.imageEnv, NODE_OPTIONS: s.nodeOptions };
}

export function describeShipped(s: ShippedNode): string {
  const env = Object.entries(s.imageEnv)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");
  return `node ${[...s.args, "SCRIPT"].join(" ")} with NODE_OPTIONS "${s.nodeOptions}"${env ? ` and ${env}` : ""}`;
}
