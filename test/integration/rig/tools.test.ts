// ensureTool builds chart and image tools from the committed tools modules (cached by version).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ensureTool } from "../../rig/tools.ts";

describe("rig: ensureTool", () => {
  const paths: Record<string, string> = {};
  beforeAll(async () => {
    // Cold, helm and promtool take minutes to build: hookTimeout covers it, testTimeout would not.
    for (const t of ["helm", "promtool", "crane"] as const) paths[t] = await ensureTool(t);
  });

  const version = (tool: string, ...args: string[]) => {
    const r = spawnSync(paths[tool] ?? "", args, { encoding: "utf8" });
    expect(r.status).toBe(0);
    return r.stdout + r.stderr;
  };

  it("helm reports its pinned version", () => {
    expect(version("helm", "version", "--short")).toMatch(/^v4\.\d+\.\d+/);
  });

  it("promtool reports its pinned version and checks a rules file", () => {
    expect(version("promtool", "--version")).toMatch(/promtool, version 3\.\d+\.\d+/);
    const dir = mkdtempSync(join(tmpdir(), "rig-promtool-"));
    try {
      const good = join(dir, "good.yaml");
      writeFileSync(
        good,
        "groups:\n  - name: g\n    rules:\n      - alert: Up\n        expr: up == 0\n        for: 5m\n",
      );
      expect(version("promtool", "check", "rules", good)).toMatch(/SUCCESS: 1 rules found/);
      const bad = join(dir, "bad.yaml");
      writeFileSync(bad, "groups:\n  - name: g\n    rules:\n      - alert: Up\n        expr: up ==\n");
      const r = spawnSync(paths["promtool"] ?? "", ["check", "rules", bad], { encoding: "utf8" });
      expect(r.status).not.toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("crane reports its pinned version", () => {
    expect(version("crane", "version")).toMatch(/^v0\.\d+\.\d+/);
  });
});
