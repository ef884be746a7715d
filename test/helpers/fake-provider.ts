import type { Credential, Provider } from "../../providers/contract.ts";
import { ProviderError } from "../../providers/contract.ts";

type Step = { ok: Credential[] } | { fail: ProviderError } | { hang: true };

/**
 * A provider driven by the test: each mint takes the next scripted step (the last one
 * repeats). Records when each mint happened, so tests can assert timing and call counts.
 */
export class ScriptedProvider implements Provider {
  calls: number[] = [];
  private steps: Step[];
  private listeners: Array<() => void> = [];

  constructor(
    steps: Step[],
    private readonly now: () => number = Date.now,
  ) {
    this.steps = steps;
  }

  script(steps: Step[]): void {
    this.steps = steps;
  }

  async mint(signal: AbortSignal): Promise<Credential[]> {
    this.calls.push(this.now());
    const step = this.steps.length > 1 ? this.steps.shift()! : this.steps[0]!;
    if ("hang" in step) {
      return new Promise((_, reject) =>
        signal.addEventListener("abort", () => reject(signal.reason), { once: true }),
      );
    }
    if ("fail" in step) throw step.fail;
    return step.ok;
  }

  watch(onChange: () => void): () => void {
    this.listeners.push(onChange);
    return () => (this.listeners = this.listeners.filter((l) => l !== onChange));
  }

  emitChange(): void {
    this.listeners.forEach((l) => l());
  }
}

export const ok = (
  password: string,
  expiresAt: Date | null,
  registries = ["registry.example.com"],
): { ok: Credential[] } => ({
  ok: [{ registries, username: "user", password, expiresAt }],
});
export const fail = (
  reason: ProviderError["reason"] = "network",
  message = "connection refused",
): { fail: ProviderError } => ({
  fail: new ProviderError(reason, message),
});
