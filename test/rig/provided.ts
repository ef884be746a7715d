// Type of what global-setup.ts provides to test files (vitest's provide/inject).
import type { ClusterInfo } from "./cluster.ts";

declare module "vitest" {
  export interface ProvidedContext {
    regcredRigCluster: ClusterInfo;
    /** The vitest main process: owner of the shared node's machine lock (shared-node.ts). */
    regcredRigOwnerPid: number;
  }
}

export {};
