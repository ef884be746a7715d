import { describe, expect, it } from "vitest";
import type { V1ServiceAccount } from "@kubernetes/client-node";
import { change, ownedEntriesAnnotation } from "../../src/kube/serviceaccounts.ts";

const annotation = ownedEntriesAnnotation("regcred");
const sa = (entries: string[], owned?: string): V1ServiceAccount => ({
  metadata: {
    name: "default",
    namespace: "team",
    resourceVersion: "41",
    ...(owned !== undefined ? { annotations: { [annotation]: owned } } : {}),
  },
  imagePullSecrets: entries.map((name) => ({ name })),
});
const none = new Set<string>();

describe("change: the patch that gives a ServiceAccount regcred's entries", () => {
  it("carries the resourceVersion it was computed from, so a write in between is a 409", () => {
    const next = change(sa(["team-creds"]), new Set(["pull"]), none, annotation)!;
    expect(next.patch[0]).toEqual({ op: "replace", path: "/metadata/resourceVersion", value: "41" });
    expect(next.added).toEqual(["pull"]);
  });

  it("removes only entries regcred recorded as its own", () => {
    const next = change(sa(["team-creds", "pull", "hand"], "pull"), none, none, annotation)!;
    expect(next.removed).toEqual(["pull"]);
    expect(next.patch).toContainEqual({
      op: "add",
      path: "/imagePullSecrets",
      value: [{ name: "team-creds" }, { name: "hand" }],
    });
  });

  it("never records an entry that was there before regcred wanted it", () => {
    expect(change(sa(["pull"]), new Set(["pull"]), none, annotation)).toBeNull();
  });

  it("keeps an entry in `keep` (no usable credential, or a foreign Secret of that name) without adding one", () => {
    expect(change(sa(["pull"], "pull"), none, new Set(["pull"]), annotation)).toBeNull();
    expect(change(sa([]), none, new Set(["pull"]), annotation)).toBeNull();
  });
});
