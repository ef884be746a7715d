// Each folder under providers/ is a provider: registered by its kind in the one table, with a
// schema.ts, an index.ts, a README and a test folder. A folder added without those fails here.
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { providerDefinitions } from "../../providers/index.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const folders = readdirSync(path.join(root, "providers"), { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name)
  .sort();

describe("provider registration", () => {
  it("every providers/ folder is a registered kind, and every kind has its folder", () => {
    expect(folders).toEqual(providerDefinitions.map((d) => d.kind).sort());
  });

  it("kinds are unique", () => {
    const kinds = providerDefinitions.map((d) => d.kind);
    expect(new Set(kinds).size).toBe(kinds.length);
  });

  it.each(folders)("%s has schema.ts, index.ts, a README and tests", (kind) => {
    for (const file of ["schema.ts", "index.ts", "README.md"]) {
      expect(existsSync(path.join(root, "providers", kind, file)), `providers/${kind}/${file}`).toBe(true);
    }
    const tests = path.join(root, "test", "providers", kind);
    expect(existsSync(tests), `test/providers/${kind}/`).toBe(true);
    expect(
      readdirSync(tests).some((f) => f.endsWith(".test.ts")),
      `a *.test.ts in test/providers/${kind}/`,
    ).toBe(true);
  });

  it.each(providerDefinitions.map((d) => [d.kind, d] as const))(
    "%s: its schema accepts its own kind only",
    (kind, d) => {
      const other = providerDefinitions.find((x) => x.kind !== kind)!.kind;
      expect(d.schema.safeParse({ name: "x", provider: other }).success).toBe(false);
    },
  );
});
