// `registryCheck:` of a registries[] entry: on by default for every provider, off with `false` or
// `enabled: false`, and its settings after defaults (bad values: test/fixtures/bad/verify-*).
import { describe, expect, it } from "vitest";
import { configFrom } from "../helpers/config.ts";
import { ConfigError } from "../../src/config/load.ts";
import { providerKinds } from "../../providers/index.ts";

const entry = (extra: string) => `registries:
  - { name: a, provider: static, registries: [docker.io], username: u, passwordFrom: { env: P }${extra} }
secrets: [{ name: s, registries: [a] }]
`;

describe("config: registryCheck", () => {
  it("is on by default, with a 10 s timeout and no repository", () => {
    expect(configFrom(entry("")).registries[0]!.verify).toEqual({ timeout: 10_000 });
    expect(configFrom(entry(", registryCheck: true")).registries[0]!.verify).toEqual({ timeout: 10_000 });
  });

  it("is off with registryCheck: false or enabled: false", () => {
    expect(configFrom(entry(", registryCheck: false")).registries[0]!.verify).toBeNull();
    expect(configFrom(entry(", registryCheck: { enabled: false }")).registries[0]!.verify).toBeNull();
  });

  it("takes a repository and a timeout", () => {
    expect(
      configFrom(entry(", registryCheck: { repository: team/app-x, timeout: 3s }")).registries[0]!.verify,
    ).toEqual({ repository: "team/app-x", timeout: 3_000 });
  });

  it("every provider's entry takes registryCheck in both forms, and none has a field of that name", () => {
    for (const kind of providerKinds) {
      try {
        configFrom(`registries:
  - { name: a, provider: ${kind}, registryCheck: { repository: team/app, timeout: 2s } }
secrets: [{ name: s, registries: [a] }]
`);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        // Other fields of the provider are missing; registryCheck itself is never the problem.
        expect(JSON.stringify((err as ConfigError).problems), kind).not.toContain("registryCheck");
      }
    }
  });
});
