// The chart's documentation cannot drift from the chart: every top-level value is in
// values.schema.json and in README.md's values table, and the README's alert table lists
// exactly the alerts of charts/regcred/files/alerts.yaml.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";

const ROOT = join(fileURLToPath(import.meta.url), "..", "..", "..");
const CHART = join(ROOT, "charts", "regcred");
const readme = readFileSync(join(ROOT, "README.md"), "utf8");
const values = parse(readFileSync(join(CHART, "values.yaml"), "utf8")) as Record<string, unknown>;
const schema = JSON.parse(readFileSync(join(CHART, "values.schema.json"), "utf8")) as {
  additionalProperties: boolean;
  properties: Record<string, unknown>;
};

function section(title: string): string {
  const start = readme.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`README.md has no "## ${title}" section`);
  const end = readme.indexOf("\n## ", start + 1);
  return readme.slice(start, end < 0 ? undefined : end);
}

/** Backticked names in the first column of a section's tables. */
function firstColumn(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split("\n")) {
    const cell = /^\| ([^|]+) \|/.exec(line)?.[1];
    if (!cell) continue;
    for (const [, name] of cell.matchAll(/`([^`]+)`/g)) names.add(name!);
  }
  return names;
}

describe("chart docs", () => {
  it("values.schema.json declares exactly the top-level values of values.yaml, and refuses others", () => {
    expect(Object.keys(schema.properties).sort()).toEqual(Object.keys(values).sort());
    expect(schema.additionalProperties).toBe(false);
  });

  it("README's Install with Helm section documents every top-level value, and no unknown one", () => {
    const documented = firstColumn(section("Install with Helm"));
    const missing = Object.keys(values).filter((k) => !documented.has(k));
    expect(missing).toEqual([]);
    expect([...documented].filter((k) => !(k in values))).toEqual([]);
  });

  it("README's Alerts section lists exactly the alerts of files/alerts.yaml", () => {
    const rules = parse(readFileSync(join(CHART, "files", "alerts.yaml"), "utf8")) as {
      groups: { rules: { alert: string }[] }[];
    };
    const alerts = rules.groups.flatMap((g) => g.rules.map((r) => r.alert)).sort();
    expect([...firstColumn(section("Alerts"))].sort()).toEqual(alerts);
  });

  it("the new sections sit before Development", () => {
    const order = ["## Install with Helm", "## Alerts", "## Development"].map((h) =>
      readme.indexOf(`\n${h}\n`),
    );
    expect(order.every((i) => i > 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });
});
