import { describe, expect, it } from "vitest";
import type { V1Secret } from "@kubernetes/client-node";
import { compact, matches } from "../../src/kube/secrets/compare.ts";
import { plan } from "../../src/engine/plan.ts";
import { target } from "../helpers/config.ts";

const creds = new Map([
  ["hub", [{ registries: ["r.example.com"], username: "u", password: "p", expiresAt: null }]],
]);
const desired = plan([target({ name: "pull", registries: ["hub"] })], creds, [{ name: "team", labels: {} }])
  .secrets[0]!;

function live(extraLabels: Record<string, string>, appliedLabels: string[]): V1Secret {
  return {
    type: desired.type,
    metadata: {
      name: "pull",
      namespace: "team",
      labels: { ...desired.body.labels, ...extraLabels },
      annotations: { ...desired.body.annotations },
      managedFields: [
        {
          manager: "regcred",
          operation: "Apply",
          fieldsV1: {
            "f:metadata": { "f:labels": Object.fromEntries(appliedLabels.map((k) => [`f:${k}`, {}])) },
          },
        },
      ],
    },
    data: { ".dockerconfigjson": desired.body.data },
  };
}

describe("matches: whether the live Secret is exactly what regcred would apply", () => {
  it("is true for the same content", () => {
    expect(matches(compact(live({}, Object.keys(desired.body.labels))), desired)).toBe(true);
  });

  it("is false while a label regcred applied earlier and no longer wants is still there", () => {
    expect(
      matches(compact(live({ team: "payments" }, [...Object.keys(desired.body.labels), "team"])), desired),
    ).toBe(false);
  });

  it("ignores labels other managers own", () => {
    expect(matches(compact(live({ owner: "someone" }, Object.keys(desired.body.labels))), desired)).toBe(
      true,
    );
  });
});
