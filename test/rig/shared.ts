// The cluster started once by global-setup.ts, as seen from an integration test file.
import { inject } from "vitest";
import { ClusterClient } from "./cluster.ts";
import { RigError } from "./util.ts";

import "./provided.ts";

/**
 * The shared cluster (admin kubeconfig, server, CA, token helpers). It cannot be stopped or
 * restarted from a test file: suites that stop the API server start their own with
 * startCluster().
 */
export function sharedCluster(): ClusterClient {
  const info = inject("regcredRigCluster");
  if (!info) {
    throw new RigError(
      "no shared cluster: run integration tests through `npm run test:integration` (vitest project " +
        '"integration", whose globalSetup is test/rig/global-setup.ts), and do not set REGCRED_RIG_SHARED_CLUSTER=0',
    );
  }
  return new ClusterClient(info);
}
