// The soak's short form (every fault kind, compressed into 6 minutes), as CI runs it: the whole
// of "never drop a working credential" against real processes, a real API server and a real
// registry. `npm run soak` is the 20-minute form with the same targets.
import { describe, expect, it } from "vitest";
import { formatReport } from "../../soak/report.ts";
import { runSoak } from "../../soak/run.ts";

const MINUTES = Number(process.env.SOAK_MINUTES ?? 6);

describe("soak (short form)", () => {
  it(
    "keeps every selected namespace's credential good through every fault",
    async () => {
      const report = await runSoak({ minutes: MINUTES });
      console.log(formatReport(report));
      // Every target, each by name, so a failure says which one was missed and by how much.
      expect(
        report.targets.filter((t) => !t.met).map((t) => `${t.name}: ${t.value} (target ${t.target})`),
      ).toEqual([]);
      expect(report.faults.map((f) => f.kind)).toEqual([
        "namespaces-create",
        "leader-kill",
        "apiserver-stop",
        "namespaces-delete",
        "config-change",
        "provider-outage",
        "leader-kill-during-outage",
      ]);
      // Real checks ran throughout: entries judged, registry exchanges and crane pulls made.
      expect(report.checks.entryChecks).toBeGreaterThan(1000);
      expect(report.checks.registry.validAccepted).toBeGreaterThan(50);
      expect(report.checks.cranePulls.agreed).toBeGreaterThan(5);
      expect(report.upstream.mints).toBeGreaterThan(3);
    },
    (MINUTES * 60 + 300) * 1000,
  );
});
