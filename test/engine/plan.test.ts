import { describe, expect, it, vi } from "vitest";
import {
  plan,
  planFrom,
  ANNOTATION_EXPIRES,
  ANNOTATION_HASH,
  LABEL_MANAGED_BY,
  LABEL_TARGET,
  SECRET_TYPE,
  type Namespace,
} from "../../src/engine/plan.ts";
import type { Credential } from "../../providers/contract.ts";
import { target } from "../helpers/config.ts";
import type * as Minimatch from "minimatch";

// Counts glob compilations (the real Minimatch does the matching).
const globs = vi.hoisted(() => ({ compiled: 0 }));
vi.mock("minimatch", async (importOriginal) => {
  const real = await importOriginal<typeof Minimatch>();
  class CountingMinimatch extends real.Minimatch {
    constructor(...args: ConstructorParameters<typeof real.Minimatch>) {
      super(...args);
      globs.compiled++;
    }
  }
  return { ...real, Minimatch: CountingMinimatch };
});

const cred = (registries: string[], password: string, expiresAt: Date | null = null): Credential => ({
  registries,
  username: "user",
  password,
  expiresAt,
});
const namespaces: Namespace[] = [
  { name: "default", labels: {} },
  { name: "team-a", labels: { pulls: "private" } },
  { name: "team-b", labels: { pulls: "public" } },
  { name: "kube-system", labels: { pulls: "private" } },
];

describe("plan", () => {
  it("selects namespaces by include/exclude globs and label selector", () => {
    const t = target({
      name: "regcred",
      registries: ["r"],
      namespaces: { include: ["*"], exclude: ["kube-*"], selector: { matchLabels: { pulls: "private" } } },
    });
    const p = plan([t], new Map([["r", [cred(["ghcr.io"], "pw-1234")]]]), namespaces);
    expect(p.secrets.map((s) => s.namespace)).toEqual(["team-a"]);
  });

  it("supports matchExpressions", () => {
    const t = target({
      name: "regcred",
      registries: ["r"],
      namespaces: {
        include: ["team-*"],
        exclude: [],
        selector: { matchExpressions: [{ key: "pulls", operator: "NotIn", values: ["public"] }] },
      },
    });
    const p = plan([t], new Map([["r", [cred(["ghcr.io"], "pw-1234")]]]), namespaces);
    expect(p.secrets.map((s) => s.namespace)).toEqual(["team-a"]);
  });

  it("merges a target's registries into one body shared by every namespace", () => {
    const soon = new Date("2026-11-22T12:00:00Z");
    const later = new Date("2026-11-23T12:00:00Z");
    const t = target({ name: "merged", registries: ["a", "b"] });
    const p = plan(
      [t],
      new Map([
        ["a", [cred(["a.example.com"], "pw-aaaa", later)]],
        ["b", [cred(["b.example.com", "c.example.com"], "pw-bbbb", soon)]],
      ]),
      namespaces,
    );
    expect(p.secrets).toHaveLength(4);
    const body = p.secrets[0]!.body;
    expect(p.secrets.every((s) => s.body === body && s.type === SECRET_TYPE)).toBe(true);
    expect(Object.keys(JSON.parse(body.dockerconfigjson).auths)).toEqual([
      "a.example.com",
      "b.example.com",
      "c.example.com",
    ]);
    expect(body.expiresAt).toEqual(soon);
    expect(body.annotations[ANNOTATION_EXPIRES]).toBe(soon.toISOString());
    expect(body.annotations[ANNOTATION_HASH]).toMatch(/^[0-9a-f]{16}$/);
    expect(body.labels[LABEL_MANAGED_BY]).toBe("regcred");
    expect(body.labels[LABEL_TARGET]).toBe("merged");
  });

  it("writes what is usable and names what is missing", () => {
    const t = target({ name: "partial", registries: ["ok", "down"] });
    const p = plan([t], new Map([["ok", [cred(["ok.io"], "pw-okok")]]]), namespaces);
    expect(p.bodies[0]!.registries).toEqual(["ok"]);
    expect(p.bodies[0]!.missing).toEqual(["down"]);
    expect(p.problems).toEqual([]);
  });

  it("writes nothing for a target with no usable credential, and says why", () => {
    const t = target({ name: "empty", registries: ["down"] });
    const p = plan([t], new Map(), namespaces);
    expect(p.secrets).toEqual([]);
    expect(p.problems).toEqual([{ target: "empty", message: "no usable credential from any of: down" }]);
  });

  it("the content hash changes exactly when the credentials do", () => {
    const t = target({ name: "h", registries: ["r"] });
    const h = (pw: string) => plan([t], new Map([["r", [cred(["r.io"], pw)]]]), namespaces).bodies[0]!.hash;
    expect(h("pw-one1")).toBe(h("pw-one1"));
    expect(h("pw-one1")).not.toBe(h("pw-two2"));
  });

  it("compiles a target's globs once, however many namespace passes plan it", () => {
    const t = target({ name: "g", registries: ["r"], namespaces: { include: ["team-*"], exclude: ["*-b"] } });
    const body = plan([t], new Map([["r", [cred(["r.io"], "pw-1234")]]]), []).bodies[0]!;
    const before = globs.compiled;
    const passes = namespaces.map((ns) => planFrom([body], [ns]).secrets.map((s) => s.namespace));
    expect(passes).toEqual([[], ["team-a"], [], []]);
    expect(globs.compiled - before).toBe(0);
    // Another target (a new config) compiles its own.
    const other = target({ name: "g", registries: ["r"], namespaces: { include: ["kube-*"], exclude: [] } });
    expect(
      plan([other], new Map([["r", [cred(["r.io"], "pw-1234")]]]), namespaces).secrets.map(
        (s) => s.namespace,
      ),
    ).toEqual(["kube-system"]);
    expect(globs.compiled - before).toBe(1);
  });

  it("ignoreSelection renders into every given namespace", () => {
    const t = target({ name: "x", registries: ["r"], namespaces: { include: ["team-*"], exclude: [] } });
    const p = plan([t], new Map([["r", [cred(["r.io"], "pw-1234")]]]), namespaces, { ignoreSelection: true });
    expect(p.secrets).toHaveLength(4);
  });
});
