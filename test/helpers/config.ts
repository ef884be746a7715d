import { parseConfig } from "../../src/config/load.ts";
import type { Target } from "../../src/config/schema.ts";

export function target(overrides: Partial<Target> & Pick<Target, "name" | "registries">): Target {
  return { namespaces: { include: ["*"], exclude: [] }, serviceAccounts: [], adopt: false, ...overrides };
}

export function configFrom(yaml: string, file = "test.yaml") {
  return parseConfig(file, yaml);
}
