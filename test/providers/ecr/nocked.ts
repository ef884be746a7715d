// The hooks every nock-based ECR suite shares: no real network (loopback optionally allowed),
// and a sanitized AWS environment per test, restored afterwards.
import nock from "nock";
import { afterAll, afterEach, beforeAll, beforeEach } from "vitest";
import { awsEnv } from "./harness.ts";

export function nockedAws(options: { allowLoopback?: boolean } = {}): {
  /** Replaces this test's AWS environment (restored after the test, as the default one is). */
  env(set: Record<string, string>): void;
} {
  let restore: () => void = () => {};
  beforeAll(() => {
    nock.disableNetConnect();
    if (options.allowLoopback) nock.enableNetConnect("127.0.0.1");
  });
  afterAll(() => nock.enableNetConnect());
  beforeEach(() => {
    restore = awsEnv();
  });
  afterEach(() => {
    restore();
    nock.cleanAll();
  });
  return {
    env(set) {
      restore();
      restore = awsEnv(set);
    },
  };
}
