import { readFileSync } from "node:fs";
import path from "node:path";
import { parse } from "yaml";

const root = path.resolve(import.meta.dirname, "../..");

/**
 * How the shipped daemon runs Node, for benches and the soak to run it the same way: the
 * chart's nodeOptions (NODE_OPTIONS) and the V8 flags the image's ENTRYPOINT passes to node
 * (those NODE_OPTIONS refuses, such as --optimize-for-size).
 */
export interface ShippedNode {
  /** NODE_OPTIONS, from charts/regcred/values.yaml. */
  nodeOptions: string;
  /** Flags before the script in the Dockerfile's ENTRYPOINT. */
  args: string[];
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
  return { nodeOptions: values.nodeOptions ?? "", args: argv.slice(1, script) };
}

export function describeShipped(s: ShippedNode): string {
  return `node ${[...s.args, "SCRIPT"].join(" ")} with NODE_OPTIONS "${s.nodeOptions}"`;
}
