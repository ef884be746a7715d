// nock only through here: no real network while a suite runs (loopback optionally allowed), and
// a test that leaves a mock unused fails, so an interceptor that was never hit (a request the
// code under test no longer makes) cannot pass silently.
import nock from "nock";
import { afterAll, afterEach, beforeAll, expect } from "vitest";

export function useNock(options: { allowLoopback?: boolean } = {}): typeof nock {
  beforeAll(() => {
    nock.disableNetConnect();
    if (options.allowLoopback) nock.enableNetConnect("127.0.0.1");
  });
  afterAll(() => nock.enableNetConnect());
  afterEach(() => {
    const leftover = nock.pendingMocks();
    nock.cleanAll();
    expect(leftover, "mocks the test set up but no request used").toEqual([]);
  });
  return nock;
}

/** For interceptors (nock(host)...); the suite's lifecycle comes from useNock(). */
export { nock };
