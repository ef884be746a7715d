// `verify:` of a registries[] entry: on by default for every provider, off with `false` or
// `enabled: false`, and its settings after defaults (bad values: test/fixtures/bad/verify-*).
import { describe, expect, it } from "vitest";
import { configFrom } from "../helpers/config.ts";
import { ConfigError } from "../../src/config/load.ts";
import { providerKinds } from "../../providers/index.ts";

const entry = (extra: string) => `registries:
  - { name: a, provider: static, registries: [docker.io], username: u, passwordFrom: { env: P }${extra} }
secrets: [{ name: s, registries: [a] }]
`;

describe("config: verify", () => {
  it("is on by default, with a 10 s timeout and no repository", () => {
    expect(configFrom(entry("")).registries[0]!.verify).toEqual({ timeout: 10_000 });
    expect(configFrom(entry(", verify: true")).registries[0]!.verify).toEqual({ timeout: 10_000 });
  });

  it("is off with verify: false or enabled: false", () => {
    expect(configFrom(entry(", verify: false")).registries[0]!.verify).toBeNull();
    expect(configFrom(entry(", verify: { enabled: false }")).registries[0]!.verify).toBeNull();
  });

  it("takes a repository and a timeout", () => {
    expect(
      configFrom(entry(", verify: { repository: team/app-x, timeout: 3s }")).registries[0]!.verify,
    ).toEqual({ repository: "team/app-x", timeout: 3_000 });
  });

  it("every provider's entry accepts verify (the field is common to registries[])", () => {
    for (const kind of providerKinds) {
      try {
        configFrom(`registries:
  - { name: a, provider: ${kind}, verify: false }
secrets: [{ name: s, registries: [a] }]
`);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        // Other fields of the provider are missing; verify itself is never the problem.
        expect(JSON.stringify((err as ConfigError).problems), kind).not.toContain("verify");
      }
    }
  });
});
