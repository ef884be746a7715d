// The API server's name rules, with cases from k8s.io/apimachinery/pkg/util/validation's own
// tests, and the config paths that use them.
import { describe, expect, it } from "vitest";
import { isDnsLabel, isDnsSubdomain, isLabelValue, isQualifiedName } from "../../src/config/kube-names.ts";
import { compileGlobs } from "../../src/config/selector.ts";
import { ConfigError, parseConfig } from "../../src/config/load.ts";

const a = (n: number) => "a".repeat(n);

describe("Kubernetes name rules", () => {
  it.each([
    "simple",
    "now-with-dashes",
    "1-starts-with-num",
    "1234",
    "simple/simple",
    "now-with-dashes/simple",
    "now.with.dots/now_with_underscores",
    "now-with.dashes-and.dots/now-with.dashes-and.dots",
    "1.2.3.4/now.with.dots",
    "UpperCase123",
    a(63),
    `${a(253)}/${a(63)}`,
  ])("qualified name %j is valid", (key) => expect(isQualifiedName(key)).toBe(true));

  it.each([
    "",
    "nospecialchars%^=@",
    "cantendwithadash-",
    "-cantstartwithadash",
    "only/one/slash",
    "Example.com/abc",
    "example_com/abc",
    "example.com/",
    "/simple",
    a(64),
    `${a(254)}/abc`,
  ])("qualified name %j is refused", (key) => expect(isQualifiedName(key)).toBe(false));

  it.each(["", "simple", "now-with-dashes", "1-starts-with-num", "end-with-num-1", "1234", a(63), "1.2.3.4"])(
    "label value %j is valid",
    (v) => expect(isLabelValue(v)).toBe(true),
  );

  it.each([
    a(64),
    "-starts-with-dash",
    "ends-with-dash-",
    ".starts.with.dot",
    "ends.with.dot.",
    "sp ace",
    "ā",
  ])("label value %j is refused", (v) => expect(isLabelValue(v)).toBe(false));

  it("DNS labels and subdomains", () => {
    expect(isDnsLabel(a(63))).toBe(true);
    expect(isDnsLabel(a(64))).toBe(false);
    expect(isDnsLabel("a.b")).toBe(false);
    expect(isDnsSubdomain(`${a(63)}.${a(63)}.${a(63)}.${a(61)}`)).toBe(true); // 253
    expect(isDnsSubdomain(`${a(63)}.${a(63)}.${a(63)}.${a(62)}`)).toBe(false); // 254
    expect(isDnsSubdomain("A.b")).toBe(false);
  });
});

function problemsOf(yaml: string) {
  try {
    parseConfig("t.yaml", yaml);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

const REG = `registries:\n  - { name: a, provider: static, registries: [docker.io], username: u, passwordFrom: { env: P } }\n`;

describe("where the rules apply", () => {
  it("accepts a 63-character Secret name and valid labels and annotations", () => {
    const yaml = `${REG}secrets: [{ name: ${a(63)}, registries: [a], labels: { "team.example.com/owner": platform }, annotations: { "Example.com/Note": "any text, even spaces" } }]\n`;
    expect(problemsOf(yaml)).toEqual([]);
  });

  it("refuses annotations over the API server's 256 KiB total", () => {
    const yaml = `${REG}secrets: [{ name: s, registries: [a], annotations: { big: "${"x".repeat(256 * 1024)}" } }]\n`;
    expect(problemsOf(yaml)).toContainEqual({
      path: "secrets[0].annotations",
      message: expect.stringMatching(/262147 bytes/),
    });
  });

  it("a negated glob that slips past the schema matches nothing rather than everything else", () => {
    const matches = compileGlobs(["!kube-system"]);
    expect(matches("team-a")).toBe(false);
    expect(matches("kube-system")).toBe(false);
    // character-class negation is a plain glob and stays
    expect(compileGlobs(["team-[!b]"])("team-a")).toBe(true);
    expect(compileGlobs(["team-[!b]"])("team-b")).toBe(false);
  });

  it("a minInterval over margin is reported once, where it is set", () => {
    const found = problemsOf(
      `${REG}secrets: [{ name: s, registries: [a] }]\nrefresh: { minInterval: 10m }\n`,
    );
    expect(found.map((p) => p.path)).toEqual(["refresh"]);
    const own = problemsOf(
      `registries:\n  - { name: a, provider: static, registries: [docker.io], username: u, passwordFrom: { env: P }, refresh: { margin: 30s } }\nsecrets: [{ name: s, registries: [a] }]\n`,
    );
    expect(own).toEqual([
      {
        path: "registries[0].refresh",
        message: expect.stringMatching(/minInterval \(1m\) must not exceed margin \(30s\)/),
      },
    ]);
  });
});
