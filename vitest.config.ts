import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/**/*.test.ts"],
          exclude: ["test/integration/**", "node_modules/**"],
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          // Builds the rig's binaries on first use and starts one shared cluster (test/rig/README.md).
          globalSetup: ["test/rig/global-setup.ts"],
          // Real servers (kube-apiserver, etcd, registry, moto) take seconds to start and
          // share this 2-core machine: run the suites one file at a time.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 1_800_000,
        },
      },
    ],
  },
});
