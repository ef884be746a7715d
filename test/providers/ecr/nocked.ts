// The hooks every nock-based ECR suite shares: nock through the one helper (no real network,
// loopback optionally allowed, leftover mocks fail the test) and a sanitized AWS environment per
// test, restored afterwards.
import { afterEach, beforeEach } from "vitest";
import { useNock } from "../../helpers/nock.ts";
import { awsEnv } from "./harness.ts";

export function nockedAws(options: { allowLoopback?: boolean } = {}): {
  /** Replaces this test's AWS environment (restored after the test, as the default one is). */
  env(set: Record<string, string>): void;
} {
  useNock(options);
  let restore: () => void = () => {};
  beforeEach(() => {
    restore = awsEnv();
  });
  afterEach(() => restore());
  return {
    env(set) {
      restore();
      restore = awsEnv(set);
    },
  };
}
