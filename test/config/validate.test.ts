import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { main } from "../../src/cli/program.ts";

const fixtures = path.resolve(import.meta.dirname, "../fixtures");
const badDir = path.join(fixtures, "bad");
const badFiles = readdirSync(badDir)
  .filter((f) => f.endsWith(".yaml"))
  .sort();

async function validate(file: string) {
  let stdout = "";
  let stderr = "";
  const code = await main(["validate", "-c", file], {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
  });
  return { code, stdout, stderr };
}

describe("regcred validate over bad configs", () => {
  it("has a fixture per rule", () => {
    expect(badFiles.length).toBeGreaterThanOrEqual(25);
  });

  it.each(badFiles)("%s: exit 2, names the file and the path", async (name) => {
    const file = path.join(badDir, name);
    const expected = /^# expect: (.*)$/m.exec(readFileSync(file, "utf8"))?.[1];
    expect(expected, `fixture ${name} needs a '# expect:' line`).toBeTruthy();
    const { code, stderr } = await validate(file);
    expect(code).toBe(2);
    expect(stderr).toContain(`invalid config ${file}`);
    expect(stderr).toContain(`  ${expected}`);
  });

  it("a valid config exits 0", async () => {
    const { code, stdout } = await validate(path.join(fixtures, "good.yaml"));
    expect(code).toBe(0);
    expect(stdout).toContain("valid (1 registries, 1 secrets)");
  });

  it("a missing file exits 2 naming it", async () => {
    const { code, stderr } = await validate(path.join(fixtures, "nope.yaml"));
    expect(code).toBe(2);
    expect(stderr).toContain("nope.yaml");
    expect(stderr).toContain("ENOENT");
  });

  // Spawns tsx: on a loaded machine its start-up alone can take several seconds.
  it("the real process exits with code 2", { timeout: 60_000 }, () => {
    const tsx = path.resolve(import.meta.dirname, "../../node_modules/.bin/tsx");
    const result = spawnSync(tsx, ["src/main.ts", "validate", "-c", path.join(badDir, "bad-cron.yaml")], {
      cwd: path.resolve(import.meta.dirname, "../.."),
      encoding: "utf8",
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("refresh.schedule");
  });
});
