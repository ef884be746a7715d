import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config/load.ts";
import { ConfigError } from "../../../src/config/load.ts";

const config = (entry: string) => `
registries:
  - ${entry}
secrets:
  - { name: pull, registries: [m] }
`;

function problems(entry: string): Array<{ path: string; message: string }> {
  try {
    parseConfig("c.yaml", config(entry));
  } catch (err) {
    if (err instanceof ConfigError)
      return err.problems.map((p) => ({ path: String(p.path), message: p.message }));
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("mirror schema", () => {
  it("parses a full entry, normalizing registries", () => {
    const parsed = parseConfig(
      "c.yaml",
      config(
        `{ name: m, provider: mirror, source: { namespace: shared, name: corp.pull-secret }, registries: [docker.io, "https://quay.io/v2/"], key: .dockerconfigjson }`,
      ),
    );
    expect(parsed.registries[0]!.settings).toMatchObject({
      provider: "mirror",
      source: { namespace: "shared", name: "corp.pull-secret" },
      registries: ["https://index.docker.io/v1/", "quay.io"],
      key: ".dockerconfigjson",
    });
  });

  it("parses the minimal entry", () => {
    const parsed = parseConfig(
      "c.yaml",
      config(`{ name: m, provider: mirror, source: { namespace: a, name: b } }`),
    );
    expect(parsed.registries[0]!.settings).toMatchObject({ source: { namespace: "a", name: "b" } });
  });

  it.each([
    [`{ name: m, provider: mirror }`, "registries[0].source", "missing"],
    [
      `{ name: m, provider: mirror, source: { namespace: Bad_NS, name: b } }`,
      "registries[0].source.namespace",
      "lowercase DNS label",
    ],
    [
      `{ name: m, provider: mirror, source: { namespace: a, name: b, kind: Secret } }`,
      "registries[0].source",
      'unknown key "kind"',
    ],
    [
      `{ name: m, provider: mirror, source: { namespace: a, name: b }, registries: ["not a host"] }`,
      "registries[0].registries[0]",
      "expected a registry host",
    ],
    [
      `{ name: m, provider: mirror, source: { namespace: a, name: b }, registries: [] }`,
      "registries[0].registries",
      "at least one registry host",
    ],
    [
      `{ name: m, provider: mirror, source: { namespace: a, name: b }, key: .env }`,
      "registries[0].key",
      ".dockercfg",
    ],
    [
      `{ name: m, provider: mirror, source: { namespace: a, name: b }, password: x }`,
      "registries[0]",
      'unknown key "password"',
    ],
  ])("%s is an error at %s", (entry, path, message) => {
    expect(problems(entry)).toContainEqual({ path, message: expect.stringContaining(message) });
  });
});
