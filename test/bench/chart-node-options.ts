import { readFileSync } from "node:fs";
import path from "node:path";
import { parse } from "yaml";

const root = path.resolve(import.meta.dirname, "../..");

/** The chart's nodeOptions (charts/regcred/values.yaml): what a daemon bench should run with. */
export function chartNodeOptions(): string {
  const values = parse(readFileSync(path.join(root, "charts/regcred/values.yaml"), "utf8")) as {
    nodeOptions?: string;
  };
  return values.nodeOptions ?? "";
}
